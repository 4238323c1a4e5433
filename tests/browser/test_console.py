"""The trainer console in headless chromium: sign-in, filters, answering, escaping, roles.

The console runs in a background thread on a temporary store (no Rasa needed); the
end-to-end version with the whole stack is tests/integration/test_human_loop.py.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from bot.console.app import create_app
from bot.console.passwords import hash_password
from bot.handoff.settings import HumanLoopSettings
from tests.unit.handoff_support import FakePush, make_loop

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "browser pass 123"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    loop, _ = make_loop(tmp_path_factory.mktemp("console"), push=FakePush())
    loop.records.create_account("asha", hash_password(PASSWORD), "trainer")
    event_loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def serve() -> None:
        runner = web.AppRunner(create_app(loop, HumanLoopSettings()), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"], holder["port"] = runner, runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=lambda: (event_loop.run_until_complete(serve()), event_loop.run_forever()),
                              daemon=True)
    thread.start()
    assert ready.wait(20)
    yield f"http://127.0.0.1:{holder['port']}", loop
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), event_loop).result(10)  # type: ignore[union-attr]
    event_loop.call_soon_threadsafe(event_loop.stop)
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def sign_in(page, base: str, user: str = "asha", password: str = PASSWORD) -> None:
    page.goto(f"{base}/queue")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_sign_in_answer_and_escaping(console, browser) -> None:
    base, loop = console
    ref = loop.record_unanswered("web-9", 'Is <script>alert("x")</script> allowed on e-office?', [], "socketio")
    loop.record_unanswered("web-8", "Totally different: canteen timings", [], "socketio")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/analytics")
    assert "/login" in page.url
    sign_in(page, base, password="wrong password")
    assert "Wrong user name or password" in page.inner_text("main")
    sign_in(page, base)
    page.wait_for_url(re.compile(r".*/queue$"))
    assert page.locator("tbody tr").count() == 2
    page.fill("input[name=q]", "canteen")
    page.click("text=Filter")
    assert page.locator("tbody tr").count() == 1
    page.goto(f"{base}/items/{ref}")
    assert '<script>alert("x")</script>' in page.inner_text("div.msg")  # shown as text
    page.fill("textarea[name=answer]", "<img src=x onerror=alert(1)> No scripts, please.")
    page.click("text=Send answer")
    page.wait_for_selector("p.ok")
    assert "<img src=x onerror=alert(1)>" in page.inner_text("div.answer")
    assert page.locator("main img").count() == 0 and dialogs == []
    assert loop.records.get_item(ref).status == "answered"
    page.goto(f"{base}/analytics")
    assert page.locator("svg.chart").count() >= 1
    # A trainer is not an admin.
    response = page.goto(f"{base}/accounts")
    assert response.status == 403
    page.close()
