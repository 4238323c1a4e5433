"""The Telegram chats' message budget kept in the bridges' store (``bot.channels.chat_budget``).

Every limiter here has its own engine, like bridges in separate processes; the clock is
injected (wall-clock seconds). These tests run on a SQLite file here and again on
PostgreSQL in ``tests/postgres/test_chat_budget_postgres.py`` (only ``store_url`` differs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.channels.bridge_state import BridgeState
from bot.channels.bridge_tables import chat_budgets, open_bridge_engine
from bot.channels.chat_budget import SharedChatRateLimiter

CHAT, OTHER_CHAT = 7_000_001, 7_000_002
START = 1_800_000_000.0


class Clock:
    """Wall-clock seconds that only move when a test moves them."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'telegram.db'}"


@pytest.fixture
def engines(store_url: str) -> Iterator[Callable[[], Engine]]:
    """Opens engines on the store (one per simulated bridge); all disposed afterwards."""
    opened: list[Engine] = []

    def open_engine() -> Engine:
        opened.append(open_bridge_engine(store_url))
        return opened[-1]

    yield open_engine
    for engine in opened:
        engine.dispose()


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(chat_budgets)).scalar_one())


def test_a_chat_gets_its_burst_then_one_warning_per_episode(engines: Callable[[], Engine]) -> None:
    limiter = SharedChatRateLimiter(engines(), burst=3, per_s=0.5, clock=Clock())

    verdicts = [limiter.check(CHAT) for _ in range(6)]

    assert verdicts == [(True, False)] * 3 + [(False, True), (False, False), (False, False)]
    assert limiter.check(OTHER_CHAT) == (True, False)  # another chat has its own budget


def test_the_budget_refills_with_time_up_to_the_burst(engines: Callable[[], Engine]) -> None:
    clock = Clock()
    limiter = SharedChatRateLimiter(engines(), burst=2, per_s=0.5, clock=clock)
    assert [limiter.check(CHAT) for _ in range(3)] == [(True, False), (True, False), (False, True)]

    clock.now += 1.0  # half a message: still refused, and the episode's warning was given
    assert limiter.check(CHAT) == (False, False)
    clock.now += 1.0  # one message refilled: the episode ends
    assert limiter.check(CHAT) == (True, False)
    assert limiter.check(CHAT) == (False, True)  # a new episode warns again

    clock.now += 3600.0  # an hour of silence refills the burst, not 1800 messages
    assert [limiter.check(CHAT)[0] for _ in range(3)] == [True, True, False]


def test_a_lagging_clock_does_not_refill_the_same_seconds_twice(engines: Callable[[], Engine]) -> None:
    ahead, behind = Clock(START + 10.0), Clock(START)
    first = SharedChatRateLimiter(engines(), burst=2, per_s=0.5, clock=ahead)
    second = SharedChatRateLimiter(engines(), burst=2, per_s=0.5, clock=behind)
    assert first.check(CHAT)[0] and first.check(CHAT)[0]

    behind.now += 2.0  # still 8 s behind the bucket's time: nothing refilled
    assert second.check(CHAT) == (False, True)
    ahead.now += 2.0  # 2 s after the bucket's time: one message
    assert first.check(CHAT) == (True, False)


def test_two_limiters_over_one_store_share_the_budget_and_the_warning(engines: Callable[[], Engine]) -> None:
    clock = Clock()
    bridges = [SharedChatRateLimiter(engines(), burst=4, per_s=0.5, clock=clock) for _ in range(2)]

    verdicts = [bridges[i % 2].check(CHAT) for i in range(8)]  # the balancer alternates

    assert [allowed for allowed, _ in verdicts] == [True] * 4 + [False] * 4
    assert sum(warn for _, warn in verdicts) == 1
    clock.now += 2.0
    assert bridges[1].check(CHAT) == (True, False)  # the refill is seen by both, once
    assert bridges[0].check(CHAT) == (False, True)


def test_idle_chats_rows_expire_once_their_bucket_is_full_again(engines: Callable[[], Engine]) -> None:
    clock = Clock()
    engine = engines()
    limiter = SharedChatRateLimiter(engine, burst=2, per_s=0.5, clock=clock)
    for _ in range(3):
        limiter.check(CHAT)
    clock.now += 1.0
    limiter.check(OTHER_CHAT)
    assert rows(engine) == 2

    clock.now += limiter.full_after_s - 1.0  # CHAT's bucket is full again; OTHER_CHAT's not yet
    assert limiter.prune() == 1
    assert rows(engine) == 1
    assert [limiter.check(CHAT) for _ in range(3)] == [(True, False), (True, False), (False, True)]


def test_check_prunes_on_its_own_now_and_then(engines: Callable[[], Engine]) -> None:
    clock = Clock()
    engine = engines()
    limiter = SharedChatRateLimiter(engine, burst=2, per_s=0.5, clock=clock)
    for chat in range(100):
        limiter.check(chat)
    assert rows(engine) == 100

    clock.now += 120.0  # past the pruning interval, every bucket full again
    limiter.check(CHAT)

    assert rows(engine) == 1  # only the chat that just spoke


def test_erasing_a_learner_drops_their_chats_budget(store_url: str) -> None:
    state = BridgeState(store_url)
    try:
        limiter = SharedChatRateLimiter(state.engine, burst=2, per_s=0.5, clock=Clock())
        state.remember_chat("tg-erase-me", CHAT)
        limiter.check(CHAT)
        limiter.check(OTHER_CHAT)

        assert state.forget_chat("tg-erase-me")

        assert rows(state.engine) == 1
    finally:
        state.close()


def test_a_budget_that_could_never_be_spent_or_refilled_is_refused(engines: Callable[[], Engine]) -> None:
    with pytest.raises(ValueError, match="burst"):
        SharedChatRateLimiter(engines(), burst=0, per_s=0.5)
    with pytest.raises(ValueError, match="refill"):
        SharedChatRateLimiter(engines(), burst=3, per_s=0.0)


def test_two_limiters_hammering_one_chat_from_threads_allow_exactly_the_burst(
        engines: Callable[[], Engine]) -> None:
    burst, threads_per_limiter, checks_per_thread = 25, 4, 20
    clock = Clock()  # frozen: no refill while they race, so every allowed message spends a token
    limiters = [SharedChatRateLimiter(engines(), burst=burst, per_s=0.5, clock=clock) for _ in range(2)]
    for limiter in limiters:
        limiter.prune()  # so that no thread prunes while they race
    verdicts: list[tuple[bool, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * threads_per_limiter)

    def hammer(limiter: SharedChatRateLimiter) -> None:
        start.wait()
        mine = [limiter.check(CHAT) for _ in range(checks_per_thread)]
        with lock:
            verdicts.extend(mine)

    threads = [threading.Thread(target=hammer, args=(limiter,))
               for limiter in limiters for _ in range(threads_per_limiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(verdicts) == 2 * threads_per_limiter * checks_per_thread
    assert sum(allowed for allowed, _ in verdicts) == burst
    assert sum(warn for _, warn in verdicts) == 1
