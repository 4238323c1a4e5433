"""The trainer console over HTTP: authentication, roles, CSRF, escaping, answering, analytics."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.console.app import create_app
from bot.console.passwords import hash_password, verify_password
from bot.handoff.settings import HumanLoopSettings
from tests.unit.handoff_support import FakePush, make_loop

PASSWORD = "correct horse battery"
#: Hashed once: each scrypt hash at OWASP's parameters takes most of a second here.
PASSWORD_HASH = hash_password(PASSWORD)


@pytest.fixture
async def console(tmp_path: Path):
    loop, _ = make_loop(tmp_path, push=FakePush())
    loop.records.create_account("asha", PASSWORD_HASH, "trainer")
    loop.records.create_account("root", PASSWORD_HASH, "admin")
    client = TestClient(TestServer(create_app(loop, HumanLoopSettings())))
    await client.start_server()
    client.loop_ = loop  # type: ignore[attr-defined]
    yield client
    await client.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def login(client: TestClient, user: str = "asha", password: str = PASSWORD) -> str:
    page = await (await client.get("/login")).text()
    resp = await client.post("/login?next=/queue", data={"csrf": csrf_of(page), "username": user,
                                                         "password": password}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return csrf_of(await (await client.get("/queue")).text())


def test_password_hashing() -> None:
    stored = PASSWORD_HASH
    assert stored.startswith("scrypt$131072$8$1$") and PASSWORD not in stored  # OWASP: N=2^17, r=8, p=1
    assert verify_password(PASSWORD, stored) and not verify_password("wrong password!", stored)
    assert not verify_password(PASSWORD, "garbage")
    with pytest.raises(ValueError):
        hash_password("short")


async def test_anonymous_access_is_refused(console: TestClient) -> None:
    for path in ("/queue", "/items/1", "/handoffs", "/analytics", "/analytics/top_unanswered.csv", "/accounts"):
        resp = await console.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next="), path
    for path in ("/items/1/answer", "/items/1/close", "/handoffs/1/reply", "/handoffs/1/end", "/accounts"):
        resp = await console.post(path, data={"answer": "x"}, allow_redirects=False)
        assert resp.status == 401, path
    assert (await console.get("/healthz")).status == 200


async def test_wrong_password_and_login_csrf(console: TestClient) -> None:
    page = await (await console.get("/login")).text()
    resp = await console.post("/login", data={"csrf": csrf_of(page), "username": "asha", "password": "nope nope nope"})
    assert resp.status == 401 and "Wrong user name or password" in await resp.text()
    resp = await console.post("/login", data={"csrf": "forged", "username": "asha", "password": PASSWORD})
    assert resp.status == 403
    assert (await console.get("/queue", allow_redirects=False)).status == 303


async def test_trainer_cannot_use_admin_pages(console: TestClient) -> None:
    csrf = await login(console, "asha")
    assert (await console.get("/accounts")).status == 403
    resp = await console.post("/accounts", data={"csrf": csrf, "username": "eve", "password": "x" * 12,
                                                 "role": "admin"})
    assert resp.status == 403
    assert [a["username"] for a in console.loop_.records.list_accounts()] == ["asha", "root"]


async def test_admin_creates_accounts(console: TestClient) -> None:
    csrf = await login(console, "root")
    resp = await console.post("/accounts", data={"csrf": csrf, "username": "new.trainer",
                                                 "password": "long enough pw", "role": "trainer"})
    assert resp.status == 200 and "Account new.trainer created" in await resp.text()
    assert console.loop_.records.account("new.trainer")["role"] == "trainer"


async def test_csrf_and_origin_are_enforced(console: TestClient) -> None:
    ref = console.loop_.record_unanswered("web-1", "Unknown rule?", [], "socketio")
    csrf = await login(console)
    resp = await console.post(f"/items/{ref}/answer", data={"answer": "x"})
    assert resp.status == 403
    resp = await console.post(f"/items/{ref}/answer", data={"csrf": "wrong", "answer": "x"})
    assert resp.status == 403
    resp = await console.post(f"/items/{ref}/answer", data={"csrf": csrf, "answer": "x"},
                              headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert console.loop_.records.get_item(ref).status == "open"


async def test_answer_is_escaped_delivered_and_added_to_kb(console: TestClient) -> None:
    loop = console.loop_
    ref = loop.record_unanswered("web-1", "What about <img src=x onerror=alert(1)>?", ["modules/a.md"], "socketio")
    csrf = await login(console)
    queue = await (await console.get("/queue")).text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in queue and "<img src=x" not in queue
    answer = '<script>alert("pwned")</script> Use form **X**.'
    resp = await console.post(f"/items/{ref}/answer", data={"csrf": csrf, "answer": answer, "add_to_kb": "1",
                                                                     "faq_question": "What about images?"})
    html = await resp.text()
    assert resp.status == 200 and "1 waiting" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    item_page = await (await console.get(f"/items/{ref}")).text()
    assert "<script>alert" not in item_page and "&lt;script&gt;" in item_page
    assert "Knowledge-base entry: faq/q" in item_page
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert loop.pending_for("web-1")[0].endswith(answer)
    assert list((loop.kb_dir / "faq").glob("*.md"))


async def test_learner_text_is_escaped_by_the_templates_in_queue_items_and_transcripts(console: TestClient) -> None:
    from html.parser import HTMLParser

    loop = console.loop_  # type: ignore[attr-defined]
    hostile = """<script>alert('x')</script> "quoted" & it's"""
    ref = loop.record_unanswered("web-1", hostile, [], "socketio")
    request = loop.request_trainer("tg-abc", "help with leave", "rest")
    loop.relay("tg-abc", hostile)
    await login(console)

    class Seen(HTMLParser):
        """What a browser would build: elements, attribute values and text."""

        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.values: list[str] = []
            self.text = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            self.values += [v or "" for _, v in attrs]

        def handle_data(self, data: str) -> None:
            self.text += data

    for path in (f"/items/{ref}", f"/handoffs/{request.handoff_id}"):
        page = await (await console.get(path)).text()
        seen = Seen()
        seen.feed(page)
        assert "script" not in seen.tags, path  # the learner's markup never becomes an element
        assert hostile in seen.text, path  # ... it is shown as the text it was
        # Jinja2's autoescaping (quotes as &#34; and &#39;), not a hand-written escape
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &#34;quoted&#34; &amp; it&#39;s" in page, path
    item_page = await (await console.get(f"/items/{ref}")).text()
    seen = Seen()
    seen.feed(item_page)
    assert hostile in seen.values  # the FAQ question field: an attribute value the quotes cannot leave


async def test_live_chat_reply_and_end(console: TestClient) -> None:
    loop = console.loop_
    request = loop.request_trainer("tg-abc", "help with leave", "rest")
    loop.relay("tg-abc", "I need <b>help</b>")
    csrf = await login(console)
    listing = await (await console.get("/handoffs")).text()
    assert f"/handoffs/{request.handoff_id}" in listing
    page = await (await console.get(f"/handoffs/{request.handoff_id}")).text()
    assert "I need &lt;b&gt;help&lt;/b&gt;" in page
    await console.post(f"/handoffs/{request.handoff_id}/reply", data={"csrf": csrf, "text": "Hello from Asha"})
    assert any("Hello from Asha" in text for _, text in loop.push.sent)
    await console.post(f"/handoffs/{request.handoff_id}/end", data={"csrf": csrf})
    assert loop.records.active_handoff("tg-abc") is None
    assert "closed the chat" in loop.push.sent[-1][1]


async def test_analytics_page_has_svg_charts_and_csv(console: TestClient) -> None:
    loop = console.loop_
    loop.record_answered("web-1", "RTI fee?", ["modules/rti.md"])
    loop.record_unanswered("web-2", "cricket score?", [], "socketio")
    loop.feedback("web-1", "socketio", "RTI fee?", ["modules/rti.md"], False)
    await login(console)
    html = await (await console.get("/analytics")).text()
    assert html.count("<svg") == 2 and "modules/rti.md" in html
    resp = await console.get("/analytics/questions_per_day.csv")
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert (await resp.text()).splitlines()[0] == "day,answered,declined"
    assert (await console.get("/analytics/nothing.csv")).status == 404


async def test_logout_ends_the_session(console: TestClient) -> None:
    csrf = await login(console)
    await console.post("/logout", data={"csrf": csrf})
    assert (await console.get("/queue", allow_redirects=False)).status == 303


async def test_open_redirects_are_refused(console: TestClient) -> None:
    page = await (await console.get("/login")).text()
    resp = await console.post("/login?next=//evil.example/x", data={"csrf": csrf_of(page), "username": "asha",
                                                                    "password": PASSWORD}, allow_redirects=False)
    assert resp.headers["Location"] == "/queue"


async def test_a_session_survives_a_console_restart_and_only_its_hash_is_stored(console: TestClient) -> None:
    from sqlalchemy import select

    from bot.console.auth import SESSION_COOKIE, token_hash
    from bot.store.engine import session_scope
    from bot.store.handoff_models import ConsoleSessionRow

    await login(console)
    cookie = console.session.cookie_jar.filter_cookies(console.make_url("/"))[SESSION_COOKIE].value
    loop = console.loop_  # type: ignore[attr-defined]
    with session_scope(loop.records.factory) as s:
        stored = s.scalars(select(ConsoleSessionRow.token_hash)).all()
    assert stored == [token_hash(cookie)] and cookie not in stored
    restarted = TestClient(TestServer(create_app(loop, HumanLoopSettings())))  # a new console process
    await restarted.start_server()
    try:
        restarted.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
        page = await restarted.get("/queue", allow_redirects=False)
        assert page.status == 200 and "Signed in as asha" in await page.text()
        await console.post("/logout", data={"csrf": csrf_of(await (await console.get("/queue")).text())})
        assert (await restarted.get("/queue", allow_redirects=False)).status in (302, 303, 401)
    finally:
        await restarted.close()


# ----------------------------------------------------------------- sign-in hardening (issue #17)

async def wrong_logins(client: TestClient, count: int, user: str = "asha") -> list[int]:
    """Send ``count`` wrong-password sign-ins at once; returns their statuses."""
    token = csrf_of(await (await client.get("/login")).text())

    async def one() -> int:
        resp = await client.post("/login", data={"csrf": token, "username": user, "password": "not the password"})
        return resp.status

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_concurrent_guesses_cannot_get_past_the_lockout(console: TestClient) -> None:
    from bot.console.auth import MAX_FAILURES

    statuses = await wrong_logins(console, 3 * MAX_FAILURES)
    # 401 means the password was checked; every other guess must be refused unchecked.
    assert statuses.count(401) <= MAX_FAILURES and statuses.count(429) >= 2 * MAX_FAILURES, statuses
    # A refused guess does not count (all of a burst may be refused while they count each
    # other), so guessing on one at a time gets exactly the checks left, then the lock.
    checked = statuses.count(401)
    while checked < MAX_FAILURES:
        assert await wrong_logins(console, 1) == [401]
        checked += 1
    assert await wrong_logins(console, 1) == [429]
    page = await (await console.get("/login")).text()
    resp = await console.post("/login", data={"csrf": csrf_of(page), "username": "asha", "password": PASSWORD})
    assert resp.status == 429 and "Too many failed attempts" in await resp.text()


async def test_the_lockout_is_shared_by_console_processes_and_ends(console: TestClient) -> None:
    from bot.console.auth import LOCK_WINDOW_S, MAX_FAILURES

    loop = console.loop_  # type: ignore[attr-defined]
    other = TestClient(TestServer(create_app(loop, HumanLoopSettings())))  # a second console process
    await other.start_server()
    try:
        first = MAX_FAILURES // 2
        for _ in range(first):
            assert await wrong_logins(console, 1) == [401]
        for _ in range(MAX_FAILURES - first):
            assert await wrong_logins(other, 1) == [401]
        assert await wrong_logins(console, 1) == [429]
        page = await (await other.get("/login")).text()
        resp = await other.post("/login", data={"csrf": csrf_of(page), "username": "ASHA", "password": PASSWORD})
        assert resp.status == 429  # the count is per name, whatever its case
        from sqlalchemy import func, select

        from bot.store.engine import session_scope
        from bot.store.handoff_models import ConsoleLoginAttempt

        with session_scope(loop.records.factory) as s:
            stored = s.scalars(select(ConsoleLoginAttempt.name_hash)).all()
        assert len(stored) == MAX_FAILURES and "asha" not in stored
        loop.clock.now += timedelta(seconds=LOCK_WINDOW_S + 1)  # type: ignore[attr-defined]
        await login(other)
        assert await wrong_logins(console, 1, "nobody") == [401]
        with session_scope(loop.records.factory) as s:  # stale rows pruned, the good sign-in cleared its own
            assert s.scalar(select(func.count()).select_from(ConsoleLoginAttempt)) == 1
    finally:
        await other.close()


async def test_a_password_change_signs_out_every_session(console: TestClient, monkeypatch) -> None:
    from bot import wiring
    from bot.console import cli

    await login(console)
    assert (await console.get("/queue", allow_redirects=False)).status == 200
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    wiring.override(human_loop=console.loop_)  # type: ignore[attr-defined]
    try:
        assert cli.main(["set-password", "asha", "--password-stdin"]) == 0
    finally:
        wiring.override(human_loop=None)
    assert (await console.get("/queue", allow_redirects=False)).status == 303
    await login(console, password="a brand new password")


async def test_an_old_hash_still_signs_in_and_is_upgraded(console: TestClient) -> None:
    loop = console.loop_  # type: ignore[attr-defined]
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    loop.records.create_account("veteran", old, "trainer")
    csrf = await login(console, "veteran")
    upgraded = loop.records.account("veteran")["password_hash"]
    assert upgraded.startswith("scrypt$131072$8$1$") and verify_password(PASSWORD, upgraded)
    # The upgrade is not a password change: the session it was made in goes on.
    page = await console.get("/queue", allow_redirects=False)
    assert page.status == 200 and csrf_of(await page.text()) == csrf


async def test_csv_export_neutralises_every_formula_prefix(console: TestClient) -> None:
    loop = console.loop_  # type: ignore[attr-defined]
    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]
    for n, text in enumerate(hostile):
        loop.feedback(f"web-{n}", "socketio", text, [], False)
    await login(console)
    body = await (await console.get("/analytics/worst_rated_answers.csv")).text()
    cells = [row[0] for row in csv.reader(io.StringIO(body, newline=""))][1:]
    assert sorted(cells) == sorted("'" + text for text in hostile), cells
