"""Fixtures for the widget's browser tests: page server + Rasa stand-in on loopback, and chromium.

Chromium is Debian's (``apt-get install chromium fonts-lohit-deva``); ``playwright
install`` is never used. Both servers run on an event loop in a background thread
because Playwright's sync API owns the test thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rasa_standin import RasaStandIn  # tests/browser is on sys.path (rootdir conftest)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = PROJECT_ROOT / ".state" / "screenshots"


@dataclasses.dataclass
class Servers:
    """The running loopback servers."""

    base_url: str
    standin: RasaStandIn
    portal_url: str
    restart_rasa: Callable[..., None]


PORTAL_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other portal</title></head>
<body><h1>A portal on another origin, without any CSP</h1>
<script src="{base}/widget/tutor-widget.js" data-server="{base}" data-title="Portal Tutor" data-lang="{lang}"
  data-primary-color="#6a1b4d"></script>
</body></html>"""


def _settings(rasa_url: str, web_port: int, state_dir: Path, portal_url: str):
    from bot.config import load_settings

    # A fixed token keeps load_settings from writing a secret into the real state folder.
    env = {"ACTION_SERVER_TOKEN": "test", "TUTOR_STATE_DIR": str(state_dir)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return dataclasses.replace(
        settings,
        rasa_url=rasa_url,
        web_host="127.0.0.1",
        web_port=web_port,
        web_allowed_origins=(f"http://127.0.0.1:{web_port}", portal_url),
    )


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    """Start the Rasa stand-in, the real page server and a CSP-less "portal" on free loopback ports.

    The portal (another origin, allowed in ``web_allowed_origins``) embeds the widget the way
    a training portal would; without our CSP there, only the widget's sanitiser stands
    between a hostile bot reply and script execution.
    """
    from aiohttp import web

    from bot.web.server import create_app

    standin = RasaStandIn()
    loop = asyncio.new_event_loop()
    runners: list[web.AppRunner] = []

    async def start_site(app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return site._server.sockets[0].getsockname()[1]

    page_base: list[str] = []

    async def portal_page(request: web.Request) -> web.Response:
        lang = "hi" if request.query.get("lang") == "hi" else "en"
        return web.Response(text=PORTAL_PAGE.format(base=page_base[0], lang=lang), content_type="text/html")

    rasa: dict = {}

    async def start_rasa(port: int = 0) -> int:
        # A short shutdown timeout drops open WebSockets at once, as a crashed Rasa would.
        rasa["runner"] = web.AppRunner(standin.build_app(), access_log=None, shutdown_timeout=0.2)
        await rasa["runner"].setup()
        site = web.TCPSite(rasa["runner"], "127.0.0.1", port)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    async def restart(down_s: float) -> None:
        # Stopping closes every upstream WebSocket, like a Rasa restart; state lists survive.
        await rasa["runner"].cleanup()
        await asyncio.sleep(down_s)
        await start_rasa(rasa["port"])

    async def start() -> tuple[str, str]:
        rasa_port = rasa["port"] = await start_rasa()
        portal = web.Application()
        portal.router.add_get("/", portal_page)
        portal_url = f"http://127.0.0.1:{await start_site(portal)}"
        # The page server's port must be known for its allowed Origin: reserve one first.
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            web_port = s.getsockname()[1]
        page_base.append(f"http://127.0.0.1:{web_port}")
        settings = _settings(f"http://127.0.0.1:{rasa_port}", web_port, tmp_path_factory.mktemp("state"), portal_url)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", web_port).start()
        runners.append(runner)
        return page_base[0], portal_url

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base_url, portal_url = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)

    def restart_rasa(down_s: float = 1.0) -> None:
        asyncio.run_coroutine_threadsafe(restart(down_s), loop).result(timeout=30)

    yield Servers(base_url, standin, portal_url, restart_rasa)

    async def stop() -> None:
        await rasa["runner"].cleanup()
        for runner in reversed(runners):
            await runner.cleanup()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Debian chromium driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium fonts-lohit-deva")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def context(browser):
    """A fresh browser profile (empty localStorage) per test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-IN")
    yield ctx
    ctx.close()
