"""Harness (used through the ``harness`` fixture in conftest.py): the real bridge Application against a fake Bot API and a Rasa stand-in.

Each test writes an ``async def scenario(h)`` and calls ``harness.run(scenario)``; the
servers start on free loopback ports, settings come from the environment exactly as in
production (``TELEGRAM_API_BASE_URL``, ``RASA_URL``, ...), and ``h.bridge()`` runs the
Application through the same steps as ``Application.run_polling``/``run_webhook``
(initialize, post_init, updater start, start; and the reverse on exit).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi
from rasa_stand_in import RasaStandIn
from telegram.ext import Application

from bot.channels.telegram_bridge import ALLOWED_UPDATES, build_application, webhook_secret
from bot.config import Settings, load_settings

TOKEN = "424242:TEST-token_for-the-fake-api"
ACTION_TOKEN = "test-action-token"
SCENARIO_TIMEOUT_S = 20


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """Servers, settings and the bridge for one test."""

    def __init__(self, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.state_dir = state_dir
        self.monkeypatch = monkeypatch
        self.tg = FakeBotApi(TOKEN)
        self.rasa = RasaStandIn()
        self.settings: Settings | None = None
        self.webhook_port = 0
        # Overrides of the environment below (set before ``run``).
        self.env: dict[str, str] = {}

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        """Run ``scenario`` with both servers up, failing after a hard timeout."""
        asyncio.run(asyncio.wait_for(self._run(scenario), SCENARIO_TIMEOUT_S))

    async def _run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        await self.tg.start()
        await self.rasa.start()
        env = {
            "TUTOR_STATE_DIR": str(self.state_dir),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": self.tg.root,
            "RASA_URL": self.rasa.url,
            "RASA_TIMEOUT": "3",
            "ACTION_SERVER_TOKEN": ACTION_TOKEN,
            "TELEGRAM_PROACTIVE_PORT": "0",
            "TELEGRAM_WEBHOOK_SECRET": "",
            "TUTOR_PSEUDONYM_SALT": "",
            # Most scenarios send bursts on purpose; the rate-limit test sets its own budget.
            "TELEGRAM_RATE_BURST": "50",
            **self.env,
        }
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.settings = load_settings()
        try:
            await scenario(self)
        finally:
            await self.rasa.stop()
            await self.tg.stop()

    @asynccontextmanager
    async def bridge(self, *, webhook: bool = False) -> AsyncIterator[Application]:
        """Run a fresh bridge Application (polling, or webhook on a free port)."""
        assert self.settings is not None
        app = build_application(self.settings)
        await app.initialize()
        try:
            await app.post_init(app)  # type: ignore[misc]  # set by build_application
            if webhook:
                self.webhook_port = free_port()
                await app.updater.start_webhook(  # type: ignore[union-attr]
                    listen="127.0.0.1",
                    port=self.webhook_port,
                    url_path="telegram",
                    webhook_url="https://tutor.example.org/telegram",
                    secret_token=webhook_secret(self.settings),
                    allowed_updates=ALLOWED_UPDATES,
                )
            else:
                await app.updater.start_polling(  # type: ignore[union-attr]
                    poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES
                )
            await app.start()
            yield app
        finally:
            if app.updater and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
                if app.post_stop:  # as run_polling does after stop
                    await app.post_stop(app)
            await app.shutdown()
            await app.post_shutdown(app)  # type: ignore[misc]

    @staticmethod
    async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds, or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.02)
