"""The Telegram bridge's shared state with several bridges at once: claims, chat turns, outbox.

Each "bridge" here is the real :class:`OrderedDedupProcessor` with its own store
connection, chat turns and event loop in its own thread (claims also from separate
processes); only python-telegram-bot's HTTP side is left out (``tests/scaled`` runs whole
bridges behind nginx). Delivery follows Telegram: a chat's next update is sent only once
the previous one was acknowledged (claimed), to any bridge, sometimes twice.

These tests run on a SQLite file here and again on PostgreSQL in
``tests/postgres/test_bridge_state_postgres.py`` (only the ``store_url`` fixture differs).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.channels.bridge_state import BridgeState
from bot.channels.chat_turns import ChatTurns
from bot.channels.outbox import OutgoingMessage
from bot.channels.update_processor import OrderedDedupProcessor

ROOT = Path(__file__).resolve().parents[2]
BOT_ID = "424242"

# Claims update ids 0..n-1 (chat = id % 7) once a common start time is reached; prints the ids won.
CLAIMER = """
import json, sys, time
from bot.channels.bridge_state import BridgeState
url, start_at, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
state = BridgeState(url)
time.sleep(max(0.0, start_at - time.time()))
won = [i for i in range(n) if state.enqueue_update("424242", i, i % 7, '{"update_id": %d}' % i)]
print(json.dumps(won))
"""


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'telegram.db'}"


def message(update_id: int, chat_id: int) -> dict[str, Any]:
    """A text message update as Telegram sends it."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": f"m{update_id}",
        "chat": {"id": chat_id, "type": "private", "first_name": "Learner"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Learner"}}}


@dataclass
class Handled:
    """What every bridge handled: (chat, update id, bridge, start, end), in order of completion."""

    rows: list[tuple[int, int, str, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_chat(self) -> dict[int, list[tuple[int, int, str, float, float]]]:
        chats: dict[int, list[tuple[int, int, str, float, float]]] = {}
        for row in sorted(self.rows, key=lambda r: r[3]):
            chats.setdefault(row[0], []).append(row)
        return chats


class Bridge:
    """A bridge's update processing (claims, chat turns, ordered draining) on its own loop and thread."""

    def __init__(self, name: str, url: str, handled: Handled, lease_s: float = 5.0) -> None:
        self.name = name
        self.handled = handled
        self.state = BridgeState(url)
        self.turns = ChatTurns(self.state, lease_s=lease_s, holder=name)
        self.processor = OrderedDedupProcessor(self.state, BOT_ID, self.turns)
        self.processor.handle_stored = lambda payload: self._handle(json.loads(payload))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tasks: set[asyncio.Future] = set()

    async def _handle(self, data: dict[str, Any]) -> None:
        start = time.monotonic()
        await asyncio.sleep(random.uniform(0.0, 0.015))  # Rasa thinking
        with self.handled.lock:
            self.handled.rows.append((data["message"]["chat"]["id"], data["update_id"], self.name, start,
                                      time.monotonic()))

    async def _receive(self, data: dict[str, Any]) -> bool:
        # As python-telegram-bot does: the queue's put claims, then one task per update.
        update = Update.de_json(data, None)
        if not self.processor.claim(update):
            return False
        task = asyncio.ensure_future(self.processor.process_update(update, self._handle(data)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def deliver(self, data: dict[str, Any]) -> bool:
        """POST one update: returns once it is acknowledged (claimed here, or a duplicate)."""
        return asyncio.run_coroutine_threadsafe(self._receive(data), self.loop).result(10)

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def idle(self) -> bool:
        return not self.tasks

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.state.close()


@pytest.fixture
def bridges(store_url: str) -> Iterator[tuple[list[Bridge], Handled]]:
    handled = Handled()
    made = [Bridge(f"bridge-{i}", store_url, handled) for i in range(3)]
    yield made, handled
    for bridge in made:
        bridge.close()


def telegram_sends(bridges: list[Bridge], chats: dict[int, list[int]], seed: int) -> None:
    """Deliver each chat's updates in order, chats in parallel, to random bridges, some twice."""
    def one_chat(chat_id: int, update_ids: list[int]) -> None:
        rng = random.Random(seed * 1000 + chat_id)
        for update_id in update_ids:
            first, second = rng.sample(bridges, 2)
            assert first.deliver(message(update_id, chat_id))  # acknowledged: the next may follow
            if rng.random() < 0.3:  # a redelivery (lost acknowledgement) reaching the other bridge
                assert not second.deliver(message(update_id, chat_id))
            time.sleep(rng.uniform(0.0, 0.004))

    threads = [threading.Thread(target=one_chat, args=item) for item in chats.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_concurrent_claims_from_several_processes_give_each_update_to_exactly_one(store_url: str) -> None:
    n, start_at = 400, time.time() + 4.0  # every process opens the store (creating tables) before it starts
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", CLAIMER, store_url, str(start_at), str(n)], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    won = sorted(update_id for ids in results for update_id in ids)
    assert len(won) == len(set(won)), "an update was claimed twice"
    assert won == list(range(n)), f"updates never claimed: {sorted(set(range(n)) - set(won))[:20]}"


def test_consecutive_updates_of_a_chat_on_different_bridges_are_handled_once_in_order(bridges) -> None:
    made, handled = bridges
    chats = {chat_id: [] for chat_id in (101, 202, 303, 404, 505)}
    update_id = 1000
    for _ in range(12):  # update ids are global: the chats' updates interleave
        for chat_id in chats:
            update_id += random.randint(1, 3)
            chats[chat_id].append(update_id)
    telegram_sends(made, chats, seed=1)
    total = sum(len(ids) for ids in chats.values())
    wait_until(lambda: len(handled.rows) >= total and all(b.idle() for b in made))
    time.sleep(0.2)
    assert len(handled.rows) == total  # each update once, no duplicate
    by_chat = handled.by_chat()
    for chat_id, ids in chats.items():
        rows = by_chat[chat_id]
        assert [row[1] for row in rows] == ids  # in order
        # One turn at a time: a chat's handling never overlaps, whichever bridge it ran on.
        assert all(a[4] <= b[3] for a, b in zip(rows, rows[1:], strict=False))
    assert len({row[2] for row in handled.rows}) > 1  # the work was spread over the bridges


def test_a_bridge_that_dies_mid_turn_hands_the_chat_over_when_its_lease_runs_out(store_url: str) -> None:
    handled = Handled()
    survivor = Bridge("survivor", store_url, handled, lease_s=5.0)
    try:
        # The crashed bridge claimed update 1, held the chat's turn and then died: nothing renews it.
        state = survivor.state
        assert state.acquire_turn(7, "crashed", lease_s=1.5)
        assert state.enqueue_update(BOT_ID, 1, 7, json.dumps(message(1, 7)))
        assert survivor.call(survivor.processor.sweep(older_than_s=0)) == 0  # the lease is still live
        started = time.monotonic()
        assert survivor.deliver(message(2, 7))  # the chat's next message reaches the survivor
        wait_until(lambda: len(handled.rows) == 2, timeout=10)
        assert time.monotonic() - started >= 1.0  # it waited for the lease instead of overtaking
        assert [row[1] for row in handled.rows] == [1, 2]  # the left-over update first
        # An update left waiting by a dead bridge with no new message behind it: the sweep takes it.
        assert state.acquire_turn(8, "crashed", lease_s=0.5)
        assert state.enqueue_update(BOT_ID, 3, 8, json.dumps(message(3, 8)))
        time.sleep(0.6)
        assert survivor.call(survivor.processor.sweep(older_than_s=0)) == 1
        assert [row[1] for row in handled.rows] == [1, 2, 3]
        assert not state.enqueue_update(BOT_ID, 3, 8, "{}")  # still remembered as processed
    finally:
        survivor.close()


def test_outbox_and_chat_map_survive_reopening_and_erasure_reaches_every_bridge(store_url: str) -> None:
    first = BridgeState(store_url)
    first.remember_chat("tg-a", 111)
    first.remember_chat("tg-b", 222)
    first.outbox.add(111, [OutgoingMessage("a1", "HTML"), OutgoingMessage("a2")])
    first.outbox.add(222, [OutgoingMessage("b1")])
    first.close()  # the bridge stops with replies undelivered

    second = BridgeState(store_url)  # a restart, or the other bridge
    other = BridgeState(store_url)
    try:
        assert second.chat_for("tg-a") == 111 and other.outbox.pending() == 3
        head = other.outbox.head(111)
        assert head is not None and (head.message.text, head.message.parse_mode) == ("a1", "HTML")
        assert second.forget_chat("tg-a")  # the learner erased their data, through one bridge
        assert other.chat_for("tg-a") is None and other.outbox.pending(111) == 0
        assert other.chat_for("tg-b") == 222 and other.outbox.pending(222) == 1
    finally:
        second.close()
        other.close()


def test_a_turn_is_exclusive_and_expires(store_url: str) -> None:
    state = BridgeState(store_url)
    try:
        assert state.acquire_turn(5, "a", lease_s=0.3)
        assert not state.acquire_turn(5, "b", lease_s=0.3)
        assert state.renew_turn(5, "a", lease_s=0.3) and not state.renew_turn(5, "b", lease_s=0.3)
        time.sleep(0.4)
        assert state.acquire_turn(5, "b", lease_s=5)  # a's lease ran out
        assert not state.renew_turn(5, "a", lease_s=5)  # a learns it lost the turn
        state.release_turn(5, "a")  # a late release of a lost turn frees nothing
        assert not state.acquire_turn(5, "a", lease_s=5)
        state.release_turn(5, "b")
        assert state.acquire_turn(5, "a", lease_s=5)
    finally:
        state.close()


def test_a_message_left_in_the_store_goes_to_one_bridge_at_a_time_until_it_is_done(store_url: str) -> None:
    from bot.channels.proactive_queue import LEASE_S, ProactiveQueue

    now = [1000.0]
    state = BridgeState(store_url)
    state.remember_chat("tg-a", 111)
    worker = ProactiveQueue(state.engine, clock=lambda: now[0])  # the background worker's side
    first = ProactiveQueue(BridgeState(store_url).engine, clock=lambda: now[0])  # two bridges
    second = ProactiveQueue(BridgeState(store_url).engine, clock=lambda: now[0])
    try:
        assert not worker.put("tg-nobody", [{"text": "no chat known"}])
        assert worker.put("tg-a", [{"text": "Review due: RTI"}]) and worker.put("tg-a", [{"text": "second"}])
        taken = first.take()
        assert [m.replies[0]["text"] for m in taken] == ["Review due: RTI", "second"]
        assert second.take() == []  # leased by the first bridge
        now[0] += LEASE_S + 1  # the first bridge died before handing them to its outbox
        again = second.take()
        assert [m.id for m in again] == [m.id for m in taken]
        second.done(again[0].id)
        now[0] += LEASE_S + 1
        assert [m.replies[0]["text"] for m in first.take()] == ["second"]
        assert state.forget_chat("tg-a")  # erasure takes what still waits for the learner
        now[0] += LEASE_S + 1
        assert first.take() == [] and not first.expired(again[0])
        now[0] += 2 * 24 * 3600
        assert first.expired(again[0])
    finally:
        state.close()


def test_concurrent_bridges_take_each_queued_message_exactly_once(store_url: str) -> None:
    from bot.channels.proactive_queue import ProactiveQueue

    state = BridgeState(store_url)
    state.remember_chat("tg-a", 111)
    worker = ProactiveQueue(state.engine)
    for i in range(60):
        assert worker.put("tg-a", [{"text": f"m{i}"}])
    taken: list[int] = []
    lock = threading.Lock()

    def bridge() -> None:
        queue = ProactiveQueue(BridgeState(store_url).engine)
        while batch := queue.take(limit=7):
            with lock:
                taken.extend(m.id for m in batch)
            for message in batch:
                queue.done(message.id)

    threads = [threading.Thread(target=bridge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    state.close()
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 60
