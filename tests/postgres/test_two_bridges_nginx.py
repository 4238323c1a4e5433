"""Two Telegram bridges in webhook mode behind nginx, sharing their state in PostgreSQL.

Real bridge processes (``python -m bot.channels.telegram_bridge --webhook``), nginx with the
configuration scaled mode generates (``bot.scaled.nginx``, round robin over the bridges),
a throwaway PostgreSQL as ``TELEGRAM_STORE_URL``; the fake Bot API and the Rasa stand-in
of ``tests/telegram`` on loopback. This test plays Telegram: it POSTs a burst of updates
for several chats to nginx, each chat's next update once the previous one was answered
(as Telegram does), chats in parallel, and sends some updates twice (a lost
acknowledgement), which nginx hands to either bridge. Rasa answers some messages slowly,
so a chat's next update often reaches the other bridge while the first still works.
Each update must be answered exactly once, and each chat's answers arrive in order.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

TELEGRAM_TESTS = Path(__file__).resolve().parents[1] / "telegram"
if str(TELEGRAM_TESTS) not in sys.path:
    sys.path.insert(0, str(TELEGRAM_TESTS))  # the fake Bot API and the Rasa stand-in live there

from fake_bot_api import FakeBotApi  # noqa: E402
from rasa_stand_in import RasaStandIn  # noqa: E402

from bot.runner import free_port  # noqa: E402
from bot.scaled.nginx import NginxLayout, render  # noqa: E402
from bot.scaled.services import NginxServer  # noqa: E402

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                 reason="nginx not installed (apt-get install -y nginx)")]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242:TEST-token_for-the-fake-api"
SECRET = "two-bridges-webhook-secret"
CHATS = (1001, 2002, 3003, 4004, 5005, 6006)
PER_CHAT = 8


def start_bridge(index: int, port: int, store_url: str, tg: FakeBotApi, rasa: RasaStandIn,
                 tmp: Path) -> subprocess.Popen:
    """One bridge process in webhook mode on ``port``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUTOR_STATE_DIR": str(tmp / f"state-{index}"),
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": tg.root, "RASA_URL": rasa.url,
           "TELEGRAM_STORE_URL": store_url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
           # Shared by every bridge (scaled mode gives them one): chats get one pseudonym.
           "TUTOR_PSEUDONYM_SALT": "two-bridges-salt", "ACTION_SERVER_TOKEN": "two-bridges-token",
           "TELEGRAM_PROACTIVE_PORT": "0", "TELEGRAM_RATE_BURST": "1000", "LOG_LEVEL": "INFO"}
    log = open(tmp / f"bridge-{index}.log", "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "bot.channels.telegram_bridge", "--webhook",
                             "https://tutor.example.org/telegram", "--listen", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f} s"
        await asyncio.sleep(0.05)


async def play_telegram(url: str, chats: dict[int, list[tuple[int, str]]], seed: int) -> int:
    """POST each chat's updates in order (the next once the previous got 200); return redeliveries."""
    redelivered = 0
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def post(session: aiohttp.ClientSession, update: dict) -> None:
        for _ in range(50):  # Telegram retries until it gets a 200
            try:
                async with session.post(url, json=update, headers=headers) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"update {update['update_id']} was never accepted")

    async def one_chat(session: aiohttp.ClientSession, chat_id: int, updates: list[tuple[int, str]]) -> None:
        nonlocal redelivered
        rng = random.Random(seed * 7919 + chat_id)
        for update_id, text in updates:
            update = FakeBotApi.message_update(update_id, chat_id, text)
            await post(session, update)
            if rng.random() < 0.25:
                redelivered += 1
                await post(session, update)
            await asyncio.sleep(rng.uniform(0.0, 0.02))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(one_chat(session, chat_id, updates) for chat_id, updates in chats.items()))
    return redelivered


def burst(seed: int, per_chat: int = PER_CHAT) -> dict[int, list[tuple[int, str]]]:
    """Each chat's updates (id, text); update ids are per bot, so the chats' ids interleave."""
    rng = random.Random(seed)
    chats: dict[int, list[tuple[int, str]]] = {chat_id: [] for chat_id in CHATS}
    update_id = 5000
    for round_ in range(per_chat):
        for chat_id in CHATS:
            update_id += rng.randint(1, 3)
            chats[chat_id].append((update_id, f"c{chat_id}-{round_}"))
    return chats


class Deployment:
    """Fake Telegram and Rasa, two bridge processes on one PostgreSQL, nginx in front."""

    def __init__(self, store_url: str, tmp: Path) -> None:
        self.store_url, self.tmp = store_url, tmp
        self.tg, self.rasa = FakeBotApi(TOKEN), RasaStandIn()
        self.ports = (free_port(), free_port())
        self.public = free_port()
        self.bridges: list[subprocess.Popen] = []
        self.nginx: NginxServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public}/telegram"

    async def __aenter__(self) -> Deployment:
        await self.tg.start()
        await self.rasa.start()
        self.bridges = [start_bridge(i, port, self.store_url, self.tg, self.rasa, self.tmp)
                        for i, port in enumerate(self.ports)]
        self.nginx = NginxServer(self.tmp / "nginx", render(NginxLayout(
            self.tmp / "nginx", free_port(), free_port(), self.public, (self.rasa.port,), (free_port(),),
            (free_port(),), telegram_ports=self.ports)))
        await wait_for(lambda: len(self.tg.calls_to("setWebhook")) == 2, 90, "both bridges set their webhook")
        await asyncio.to_thread(self.nginx.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nginx is not None:
            await asyncio.to_thread(self.nginx.stop)
        for process in self.bridges:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.bridges:
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        await self.rasa.stop()
        await self.tg.stop()

    def served_by(self) -> set[int]:
        """The bridge ports nginx handed updates to."""
        access = (self.tmp / "nginx" / "access.log").read_text()
        return {port for port in self.ports if f"127.0.0.1:{port}" in access}


@pytest.mark.parametrize("seed", [1, 2])
def test_two_webhook_bridges_behind_nginx_answer_each_update_once_and_in_order(
        postgres_database: str, tmp_path: Path, seed: int) -> None:
    chats = burst(seed)
    rng = random.Random(seed)

    async def scenario() -> None:
        async with Deployment(postgres_database, tmp_path) as d:
            # Slow turns: the chat's next update often lands on the other bridge meanwhile.
            d.rasa.delays = {text: rng.uniform(0.1, 0.4) for updates in chats.values() for _, text in updates
                             if rng.random() < 0.4}
            redelivered = await play_telegram(d.url, chats, seed)
            total = sum(len(updates) for updates in chats.values())
            await wait_for(lambda: len(d.tg.calls_to("sendMessage")) >= total, 60, "every update answered")
            await asyncio.sleep(1.0)  # a duplicate answer would arrive meanwhile
            for chat_id, updates in chats.items():
                assert d.tg.sent_texts(chat_id) == [f"You said: {text}" for _, text in updates], chat_id
            assert len(d.rasa.messages()) == total  # Rasa was asked once per update
            assert redelivered > 0
            assert d.served_by() == set(d.ports), "nginx sent updates to both bridges"

    asyncio.run(scenario())


def test_when_a_bridge_is_killed_mid_burst_the_other_carries_every_chat_on_in_order(
        postgres_database: str, tmp_path: Path) -> None:
    chats = burst(3, per_chat=6)

    async def scenario() -> None:
        async with Deployment(postgres_database, tmp_path) as d:
            d.rasa.delays = {text: 0.3 for updates in chats.values() for _, text in updates}  # turns in flight

            async def kill_one() -> None:
                await wait_for(lambda: len(d.rasa.received) >= 8, 30, "the burst under way")
                os.killpg(d.bridges[0].pid, signal.SIGKILL)  # mid-turn: its chat leases stay behind

            killer = asyncio.ensure_future(kill_one())
            await play_telegram(d.url, chats, 3)  # nginx sends on to the survivor
            await killer
            # Every chat's last update came after the kill: the survivor answers it, once the dead
            # bridge's leases ran out (15 s) for the chats it held, after their waiting updates.
            await wait_for(lambda: all(d.tg.sent_texts(chat_id)[-1:] == [f"You said: {updates[-1][1]}"]
                                       for chat_id, updates in chats.items()), 60, "every chat carried on")
            asked = d.rasa.messages()
            assert len(asked) == len(set(asked))  # nothing was handled twice
            for chat_id, updates in chats.items():
                expected = [f"You said: {text}" for _, text in updates]
                answered = [t for i, t in enumerate(d.tg.sent_texts(chat_id))
                            if i == 0 or t != d.tg.sent_texts(chat_id)[i - 1]]  # outbox: at least once
                assert answered == [t for t in expected if t in answered], (chat_id, answered)  # in order
                # At most the update the dead bridge was handling is lost (claims are at most once).
                assert len(expected) - len(answered) <= 1, (chat_id, answered)

    asyncio.run(scenario())
