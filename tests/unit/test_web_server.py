"""Tests of the page server (bot.web.server) and its socket.io frame filter.

The upstream here is a plain aiohttp WebSocket endpoint that records frames, standing in
for Rasa's socket.io endpoint at the transport level only (the browser tests cover the
socket.io protocol end to end).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot.web import server as web_server
from bot.web.sessions import COOKIE_NAME, SessionSigner
from bot.web.socketio_frames import FrameRejected, OfferedPayloads, needs_offer, parse_client_frame

ORIGIN = "http://portal.example"
SID = "0123456789abcdef0123456789abcdef"


def make_settings(rasa_url: str = "http://127.0.0.1:9", **extra):
    from bot.config import load_settings

    saved = os.environ.get("ACTION_SERVER_TOKEN")
    os.environ["ACTION_SERVER_TOKEN"] = "test"  # keeps load_settings from writing a secret file
    try:
        settings = load_settings()
    finally:
        if saved is None:
            os.environ.pop("ACTION_SERVER_TOKEN")
        else:
            os.environ["ACTION_SERVER_TOKEN"] = saved
    return dataclasses.replace(settings, rasa_url=rasa_url, web_allowed_origins=(ORIGIN,), **extra)


@pytest.fixture()
def web_dir(tmp_path: Path) -> Path:
    """A web folder with the layout the server expects, including fake vendor files."""
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "index.html").write_text("<!doctype html><title>demo</title>")
    (tmp_path / "widget").mkdir()
    (tmp_path / "widget" / "tutor-widget.js").write_text("/* widget */")
    (tmp_path / "widget" / "notes.txt").write_text("not servable: unknown type")
    for rel in web_server.VENDOR_FILES.values():
        path = tmp_path / "node_modules" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {rel} */")
    (tmp_path / "node_modules" / "dompurify" / "package.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path


def run_with_client(app: web.Application, body) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


# ---------------------------------------------------------------- static files


def test_serves_demo_widget_vendor_and_health(web_dir):
    async def body(client: TestClient) -> None:
        resp = await client.get("/")
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "<title>demo</title>" in await resp.text()
        resp = await client.get("/widget/tutor-widget.js")
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        resp = await client.get("/vendor/purify.min.js")
        assert resp.status == 200 and await resp.text() == "/* dompurify/dist/purify.min.js */"
        resp = await client.get("/healthz")
        assert resp.status == 200 and await resp.json() == {"status": "ok"}

    run_with_client(web_server.create_app(make_settings(), web_dir=web_dir), body)


def test_widget_config_lists_the_interface_languages_for_any_origin(web_dir):
    async def body(client: TestClient) -> None:
        resp = await client.get("/widget/config.json", headers={"Origin": "https://other-portal.example"})
        assert resp.status == 200 and resp.content_type == "application/json"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        config = await resp.json()
        codes = [lang["code"] for lang in config["languages"]]
        assert config["default"] == "en" and codes[0] == "en" and "hi" in codes
        hindi = next(lang for lang in config["languages"] if lang["code"] == "hi")
        assert hindi["nativeName"] == "हिंदी" and hindi["strings"]["send"] == "भेजें"

    run_with_client(web_server.create_app(make_settings(), web_dir=web_dir), body)


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/package.json",
        "/vendor/dompurify/package.json",
        "/vendor/dompurify/dist/purify.min.js",
        "/vendor/../secret.txt",
        "/vendor/..%2Fsecret.txt",
        "/vendor/%2e%2e/%2e%2e/secret.txt",
        "/vendor/..%5Csecret.txt",
        "/widget/../secret.txt",
        "/widget/notes.txt",
        "/demo/..%2F..%2Fsecret.txt",
        "/secret.txt",
    ],
)
def test_paths_outside_the_allow_lists_are_refused(web_dir, path):
    async def body(client: TestClient) -> None:
        resp = await client.get(URL(path, encoded=True), allow_redirects=False)
        assert resp.status == 404, path
        assert "outside" not in await resp.text()

    run_with_client(web_server.create_app(make_settings(), web_dir=web_dir), body)


def test_real_web_folder_serves_the_widget_and_demo():
    async def body(client: TestClient) -> None:
        page = await (await client.get("/")).text()
        assert 'src="/widget/tutor-widget.js"' in page
        widget = await client.get("/widget/tutor-widget.js")
        assert widget.status == 200 and "TutorWidget" in await widget.text()
        assert (await client.get("/widget/tutor-widget.css")).status == 200

    run_with_client(web_server.create_app(make_settings()), body)


def test_security_headers_on_pages_and_errors(web_dir):
    settings = make_settings(web_frame_ancestors="https://portal.example")

    async def body(client: TestClient) -> None:
        for path in ("/", "/widget/tutor-widget.js", "/vendor/nope.js"):
            resp = await client.get(path)
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
            assert "frame-ancestors https://portal.example" in csp
            assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert (await client.get("/")).headers["Cross-Origin-Resource-Policy"] == "same-origin"

    run_with_client(web_server.create_app(settings, web_dir=web_dir), body)


# ---------------------------------------------------------------- socket.io proxy


QUIZ_PAYLOAD = '/answer_quiz{"quiz_answer":"B"}'
BOT_REPLY = "42" + json.dumps(
    [
        "bot_uttered",
        {"text": "reply", "quick_replies": [{"content_type": "text", "title": "B", "payload": QUIZ_PAYLOAD}]},
    ]
)


def utter(message: str, session_id: str = SID) -> str:
    return "42" + json.dumps(["user_uttered", {"message": message, "session_id": session_id}])


def token_for(client: TestClient, session_id: str = SID) -> str:
    """A valid token for ``session_id``, signed by the page server under test."""
    return client.server.app[web_server.SIGNER_KEY].issue(session_id)


async def open_session(ws, client: TestClient, session_id: str = SID) -> None:
    """Engine.IO open, socket.io CONNECT with the session token, then the session handshake."""
    assert (await ws.receive_str()).startswith('0{"sid"')
    await ws.send_str("40" + json.dumps({"token": token_for(client, session_id)}))
    await ws.send_str('42["session_request",{}]')
    assert await ws.receive_str() == f'42["session_confirm","{session_id}"]'


class FakeUpstream:
    """Records frames a proxied connection delivers; sends Engine.IO's OPEN packet first."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0
        self.sender_headers: list[str | None] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/socket.io/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        assert request.query["EIO"] == "4" and request.query["transport"] == "websocket"
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sender_headers.append(request.headers.get("X-Tutor-Sender"))
        self.connected.set()
        await ws.send_str('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.frames.append(msg.data)
                if msg.data.startswith('42["session_request"'):
                    # Like Rasa with session_persistence: confirm the id it was given.
                    session_id = json.loads(msg.data[2:])[1]["session_id"]
                    await ws.send_str(f'42["session_confirm","{session_id}"]')
                elif msg.data.startswith('42["user_uttered"'):
                    await ws.send_str(BOT_REPLY)
        self.closed.set()
        return ws


def run_proxy(body, **settings) -> None:
    """Run ``body(client, upstream)`` against a page server whose Rasa is a FakeUpstream."""

    async def main() -> None:
        upstream = FakeUpstream()
        async with TestServer(upstream.app()) as up_server:
            app = web_server.create_app(make_settings(rasa_url=str(up_server.make_url("")).rstrip("/"), **settings))
            async with TestClient(TestServer(app)) as client:
                await body(client, upstream)

    asyncio.run(main())


WS_PATH = "/socket.io/?EIO=4&transport=websocket"


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {}, {"Origin": "null"}])
def test_foreign_or_missing_origin_is_refused_with_403(headers):
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        resp = await client.get(
            WS_PATH,
            headers={
                **headers,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert resp.status == 403
        assert not upstream.connected.is_set()  # Rasa never sees the connection

    run_proxy(body)


def test_polling_transport_is_refused():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        resp = await client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": ORIGIN})
        assert resp.status == 400

    run_proxy(body)


def test_relays_both_ways_and_canonicalises_events():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        assert (await ws.receive_str()).startswith('0{"sid"')
        await ws.send_str("40" + json.dumps({"token": token_for(client)}))
        await ws.send_str(f'42["session_request",{{"session_id":"{SID}","customData":{{"x":1}}}}]')
        assert await ws.receive_str() == f'42["session_confirm","{SID}"]'
        utter = {"message": "What is RTI?", "session_id": SID, "customData": {"language": "hi", "x": 1}, "extra": 2}
        await ws.send_str("42" + json.dumps(["user_uttered", utter]))
        assert await ws.receive_str() == BOT_REPLY
        assert upstream.frames[0] == "40"
        assert json.loads(upstream.frames[1][2:]) == ["session_request", {"session_id": SID}]
        assert json.loads(upstream.frames[2][2:]) == [
            "user_uttered",
            {"message": "What is RTI?", "session_id": SID, "customData": {"language": "hi"}},
        ]
        await ws.close()
        # Closing the browser side closes Rasa's side too.
        await asyncio.wait_for(upstream.closed.wait(), 5)

    run_proxy(body)


def test_session_ids_named_by_the_browser_are_replaced_by_the_bound_one():
    other = "f" * 32

    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        assert (await ws.receive_str()).startswith('0{"sid"')
        await ws.send_str("40" + json.dumps({"token": token_for(client)}))
        # Asking to join another learner's session confirms our own.
        await ws.send_str(f'42["session_request",{{"session_id":"{other}"}}]')
        assert await ws.receive_str() == f'42["session_confirm","{SID}"]'
        await ws.send_str(utter("hi", session_id=other))
        await ws.send_str("42" + json.dumps(["user_uttered", {"message": "no id"}]))
        assert await ws.receive_str() == BOT_REPLY
        assert await ws.receive_str() == BOT_REPLY
        await ws.close()
        await asyncio.wait_for(upstream.closed.wait(), 5)
        events = [json.loads(f[2:])[1] for f in upstream.frames if f.startswith("42")]
        assert [e["session_id"] for e in events] == [SID, SID, SID]
        assert other not in "".join(upstream.frames)

    run_proxy(body)


@pytest.mark.parametrize("auth", ["", '{"token":"v1.bad"}', "tampered", "other secret", "expired", '{"x":1}'])
def test_connect_without_a_valid_token_is_refused_before_rasa_hears_anything(auth):
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        token = token_for(client)
        frames = {
            "tampered": "40" + json.dumps({"token": token[:-1] + ("A" if token[-1] != "A" else "B")}),
            "other secret": "40" + json.dumps({"token": SessionSigner("another secret").issue(SID)}),
            "expired": "40" + json.dumps({"token": client.server.app[web_server.SIGNER_KEY].issue(SID, now=1.0)}),
        }
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        assert (await ws.receive_str()).startswith('0{"sid"')
        await ws.send_str(frames.get(auth, "40" + auth))
        assert await ws.receive_str() == web_server.SESSION_REFUSED_FRAME
        await ws.receive()
        assert ws.close_code == 1008
        assert upstream.connections == 0  # Rasa never even got a socket

    run_proxy(body)


def test_events_before_connect_are_refused():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await ws.receive_str()
        await ws.send_str('42["session_request",{}]')
        await ws.receive()
        assert ws.close_code == 1008
        assert upstream.connections == 0

    run_proxy(body)


def test_session_cookie_binds_the_connection_without_a_token():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        resp = await client.post("/session", data="{}", headers={"Origin": ORIGIN})
        session_id = client.server.app[web_server.SIGNER_KEY].verify((await resp.json())["token"])
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})  # the jar sends the cookie
        assert (await ws.receive_str()).startswith('0{"sid"')
        await ws.send_str("40")
        await ws.send_str('42["session_request",{"session_id":null}]')
        assert await ws.receive_str() == f'42["session_confirm","{session_id}"]'
        await ws.close()

    run_proxy(body)


# ---------------------------------------------------------------- POST /session


def test_session_endpoint_issues_renews_and_resets():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        signer = client.server.app[web_server.SIGNER_KEY]
        resp = await client.post("/session", data="", headers={"Origin": ORIGIN, "Content-Type": "text/plain"})
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Cache-Control"] == "no-store"
        token = (await resp.json())["token"]
        first = signer.verify(token)
        assert first is not None and len(first) == 32
        cookie = resp.cookies[COOKIE_NAME]
        assert cookie.value == token
        assert cookie["httponly"] is True and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain http and WEB_COOKIE_SECURE unset
        # The token continues the session (a fresh token, same id).
        client.session.cookie_jar.clear()
        again = await client.post("/session", data=json.dumps({"token": token}), headers={"Origin": ORIGIN})
        assert signer.verify((await again.json())["token"]) == first
        # So does the cookie alone (a same-site page whose localStorage was cleared).
        by_cookie = await client.post("/session", data="{}", headers={"Origin": ORIGIN})
        assert signer.verify((await by_cookie.json())["token"]) == first
        # A forged token or "new" starts a different session.
        client.session.cookie_jar.clear()
        forged = await client.post("/session", data=json.dumps({"token": token[:-2] + "xx"}), headers={"Origin": ORIGIN})
        assert signer.verify((await forged.json())["token"]) not in (None, first)
        new = await client.post("/session", data=json.dumps({"new": True, "token": token}), headers={"Origin": ORIGIN})
        assert signer.verify((await new.json())["token"]) not in (None, first)

    run_proxy(body)


@pytest.mark.parametrize(
    "headers, data, status",
    [
        ({"Origin": "http://evil.example"}, "{}", 403),
        ({}, "{}", 403),
        ({"Origin": ORIGIN}, "[1]", 400),
        ({"Origin": ORIGIN}, "not json", 400),
        ({"Origin": ORIGIN}, json.dumps({"token": "x" * 2000}), 413),
    ],
)
def test_session_endpoint_refuses_foreign_origins_and_bad_bodies(headers, data, status):
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        resp = await client.post("/session", data=data, headers=headers)
        assert resp.status == status
        assert COOKIE_NAME not in resp.cookies

    run_proxy(body)


def test_secure_cookie_when_configured(web_dir):
    async def body(client: TestClient) -> None:
        resp = await client.post("/session", data="{}", headers={"Origin": ORIGIN})
        assert resp.cookies[COOKIE_NAME]["secure"] is True

    run_with_client(web_server.create_app(make_settings(web_cookie_secure=True), web_dir=web_dir), body)


def test_session_signer_refuses_forgeries():
    signer = SessionSigner("secret", max_age_s=100)
    token = signer.issue(SID, now=1000)
    assert signer.verify(token, now=1050) == SID
    assert signer.verify(token, now=1101) is None  # expired
    version, sid, issued, sig = token.split(".")
    assert signer.verify(".".join([version, "f" * 32, issued, sig]), now=1050) is None  # another id
    assert signer.verify(".".join([version, sid, "3e9", sig]), now=1050) is None  # another time
    assert SessionSigner("other").verify(token, now=1050) is None
    for bad in (None, 12, "", SID, token + "x", token.upper()):
        assert signer.verify(bad, now=1050) is None
    with pytest.raises(ValueError):
        signer.issue("../telegram-1")
    with pytest.raises(ValueError):
        SessionSigner("")


def test_entity_payloads_pass_only_when_the_bot_offered_them():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await open_session(ws, client)
        await ws.send_str(utter(QUIZ_PAYLOAD))  # not offered yet: dropped
        await ws.send_str(utter('/inform{"role":"admin"}'))  # never offered: dropped
        await ws.send_str(utter("/quiz_me"))  # plain intent shortcut: passes
        assert await ws.receive_str() == BOT_REPLY  # ... and offers QUIZ_PAYLOAD
        await ws.send_str(utter(QUIZ_PAYLOAD))
        assert await ws.receive_str() == BOT_REPLY
        await ws.close()
        await asyncio.wait_for(upstream.closed.wait(), 5)
        sent = [json.loads(f[2:])[1]["message"] for f in upstream.frames if "user_uttered" in f]
        assert sent == ["/quiz_me", QUIZ_PAYLOAD]

    run_proxy(body)


@pytest.mark.parametrize(
    "frame, code",
    [
        ('42["user_uttered",{"message":"hi"}]', 1008),  # before CONNECT
        ('42["evil_event",{}]', 1008),
        ("4" + "x" * 9000, 1009),  # over the 8 KB frame cap
    ],
)
def test_bad_or_oversized_frames_close_both_sides(frame, code):
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await ws.receive_str()
        await ws.send_str(frame)
        msg = await ws.receive()
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == code
        assert upstream.connections == 0  # nothing reached Rasa

    run_proxy(body)


def test_user_messages_over_the_rate_limit_are_dropped():
    burst = make_settings().web_rate_burst

    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await open_session(ws, client)
        for _ in range(burst + 5):
            await ws.send_str(utter("hi"))
        for _ in range(burst):
            await ws.receive_str()
        await ws.close()
        await asyncio.wait_for(upstream.closed.wait(), 5)
        assert len([f for f in upstream.frames if "user_uttered" in f]) == burst

    run_proxy(body)


def test_rasa_down_closes_the_socket_after_the_session_check():
    async def body(client: TestClient) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        assert (await ws.receive_str()).startswith('0{"sid"')
        await ws.send_str("40" + json.dumps({"token": token_for(client)}))
        msg = await ws.receive()
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert ws.close_code == 1011  # not a session refusal: the widget keeps its session and reconnects

    # Port 9 (discard) is closed on loopback.
    run_with_client(web_server.create_app(make_settings(rasa_url="http://127.0.0.1:9")), body)


# ---------------------------------------------------------------- socket limits


async def connect_as(client: TestClient, address: str | None = None, session_id: str = SID):
    """A proxied socket with its session open, from ``address`` (sent as X-Forwarded-For)."""
    headers = {"Origin": ORIGIN, **({"X-Forwarded-For": address} if address else {})}
    ws = await client.ws_connect(WS_PATH, headers=headers)
    await open_session(ws, client, session_id)
    return ws


async def refused_status(client: TestClient, address: str) -> int:
    headers = {"Origin": ORIGIN, "X-Forwarded-For": address, "Connection": "Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    return (await client.get(WS_PATH, headers=headers)).status


def test_each_client_gets_its_own_share_of_sockets():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        first = [await connect_as(client, "10.0.0.1") for _ in range(2)]
        assert await refused_status(client, "10.0.0.1") == 429
        # The client named by the trusted proxy is the last entry; earlier ones are the client's own word.
        assert await refused_status(client, "192.0.2.9, 10.0.0.1") == 429
        other = await connect_as(client, "10.0.0.2")  # another client is not affected
        await first[0].close()
        await Harness.until(lambda: client.server.app[web_server.LIMITS_KEY].open.get("10.0.0.1") == 1)
        again = await connect_as(client, "10.0.0.1")  # a closed socket frees its slot
        for ws in (*first[1:], other, again):
            await ws.close()
        await Harness.until(lambda: client.server.app[web_server.LIMITS_KEY].open == {})

    run_proxy(body, web_max_connections_per_client=2)


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await connect_as(client, "10.0.0.1")
        assert await refused_status(client, "10.0.0.2") == 429  # both count as the peer itself
        await ws.close()

    run_proxy(body, web_max_connections_per_client=1, web_trusted_proxies=())


def test_trusted_proxies_may_be_networks_and_bad_entries_stop_the_server():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await connect_as(client, "10.0.0.1")
        assert await refused_status(client, "10.0.0.1") == 429
        other = await connect_as(client, "10.0.0.2")  # the peer 127.0.0.1 is inside 127.0.0.0/8
        for socket in (ws, other):
            await socket.close()

    run_proxy(body, web_max_connections_per_client=1, web_trusted_proxies=("127.0.0.0/8",))
    with pytest.raises(ValueError, match="WEB_TRUSTED_PROXIES"):
        web_server.create_app(make_settings(web_trusted_proxies=("nginx",)))


def test_sockets_that_never_prove_a_session_cost_rasa_nothing(monkeypatch):
    monkeypatch.setattr(web_server, "CONNECT_TIMEOUT_S", 0.5)

    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        idle = [await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN}) for _ in range(5)]
        for ws in idle:
            assert (await ws.receive_str()).startswith('0{"sid"')  # the proxy answers the handshake itself
        assert upstream.connections == 0
        for ws in idle:  # closed when no CONNECT arrives in time
            await asyncio.wait_for(ws.receive(), 5)
            assert ws.close_code == 1008
        ws = await connect_as(client)
        assert upstream.connections == 1 and upstream.sender_headers == [SID]
        await ws.close()

    run_proxy(body)


def test_message_budget_survives_reconnects_and_is_shared_per_client():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        async def send(ws, count: int) -> None:
            for _ in range(count):
                await ws.send_str(utter("hi"))
            await ws.send_str("41")  # then leave; frames are relayed in order

        def delivered() -> int:
            return len([f for f in upstream.frames if "user_uttered" in f])

        ws = await connect_as(client, "10.0.0.1")
        await send(ws, 3)
        await Harness.until(lambda: upstream.frames.count("41") == 1)
        await ws.close()
        assert delivered() == 3
        ws = await connect_as(client, "10.0.0.1")  # the same session reconnects: no fresh budget
        await send(ws, 3)
        await Harness.until(lambda: upstream.frames.count("41") == 2)
        await ws.close()
        assert delivered() == 3
        other = "c" * 32  # a new session from the same client shares the client's budget
        ws = await connect_as(client, "10.0.0.1", other)
        await send(ws, 3)
        await Harness.until(lambda: upstream.frames.count("41") == 3)
        await ws.close()
        assert delivered() == 4
        ws = await connect_as(client, "10.0.0.2", "d" * 32)  # another client has its own
        await send(ws, 2)
        await Harness.until(lambda: upstream.frames.count("41") == 4)
        await ws.close()
        assert delivered() == 6

    run_proxy(body, web_rate_burst=3, web_rate_per_s=0.001, web_client_rate_burst=4, web_client_rate_per_s=0.001)


class Harness:
    """Polling helper for conditions the server reaches asynchronously."""

    @staticmethod
    async def until(condition, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("opt_in", [False, True])
def test_access_log_keeps_client_addresses_out_unless_opted_in(tmp_path, opt_in):
    """``python -m bot.web.server`` as run by ``make run``: its access-log line for a request."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WEB_PORT": str(port), "TUTOR_STATE_DIR": str(tmp_path), "ACTION_SERVER_TOKEN": "t",
           "LOG_LEVEL": "INFO", "WEB_ACCESS_LOG_IPS": "true" if opt_in else ""}
    proc = subprocess.Popen([sys.executable, "-m", "bot.web.server"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, cwd=Path(web_server.__file__).parents[2])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "page server did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    access = [line for line in stderr.decode().splitlines() if "aiohttp.access" in line and "/healthz" in line]
    assert access, stderr.decode()[-2000:]
    assert all(("127.0.0.1" in line) is opt_in for line in access), access


# ---------------------------------------------------------------- frame filter


BOUND = "b" * 32


@pytest.mark.parametrize(
    "frame, wire",
    [
        ("3", "3"),
        ("40", "40"),
        ('40{"token":"x"}', "40"),  # the auth payload never reaches Rasa
        ("41", "41"),
        ('42["session_request",{"session_id":null}]', f'42["session_request", {{"session_id": "{BOUND}"}}]'),
        (f'42["session_request",{{"session_id":"{SID}","x":1}}]', f'42["session_request", {{"session_id": "{BOUND}"}}]'),
        (
            f'42["user_uttered",{{"message":"नमस्ते","session_id":"{SID}"}}]',
            f'42["user_uttered", {{"message": "नमस्ते", "session_id": "{BOUND}"}}]',
        ),
        (
            '42["user_uttered",{"message":"hi","session_id":"telegram-1","customData":{"language":"hi","x":1}}]',
            f'42["user_uttered", {{"message": "hi", "session_id": "{BOUND}", "customData": {{"language": "hi"}}}}]',
        ),
        ('42["user_uttered",{"message":"hi","customData":{"language":"fr"}}]',
         f'42["user_uttered", {{"message": "hi", "session_id": "{BOUND}"}}]'),
    ],
)
def test_frame_filter_accepts_the_widget_protocol_and_binds_the_session(frame, wire):
    assert parse_client_frame(frame).for_session(BOUND) == wire


def test_connect_frame_exposes_the_auth_token():
    assert parse_client_frame('40{"token":"abc"}').auth == {"token": "abc"}
    assert parse_client_frame("40").auth == {}


@pytest.mark.parametrize(
    "frame",
    [
        "2",
        "5",
        "6",
        "4",
        "40/admin,",
        '42/admin,["user_uttered",{}]',
        '421["user_uttered",{}]',
        "42not json",
        '42["user_uttered"]',
        '42["user_uttered","text"]',
        '40["token"]',
        '40{"token":"' + "x" * 600 + '"}',
        f'42["user_uttered",{{"message":"","session_id":"{SID}"}}]',
        f'42["user_uttered",{{"message":123,"session_id":"{SID}"}}]',
        '42["user_uttered",{"message":"' + "a" * 2001 + f'","session_id":"{SID}"}}]',
        '42["bot_uttered",{"text":"spoofed"}]',
    ],
)
def test_frame_filter_rejects_everything_else(frame):
    with pytest.raises(FrameRejected):
        parse_client_frame(frame)


def test_offered_payloads_are_bounded():
    offered = OfferedPayloads(max_sessions=2, max_payloads=2)
    offered.add("a", ["/x{1}", "/y{2}", "/z{3}"])
    assert not offered.allows("a", "/x{1}") and offered.allows("a", "/z{3}")
    offered.add("b", ["/b{1}"])
    offered.add("c", ["/c{1}"])
    assert not offered.allows("a", "/z{3}")  # oldest session forgotten
    assert offered.allows("c", "/c{1}") and offered.allows("c", "any plain text")
    assert needs_offer('/inform{"a":1}') and needs_offer("/greet@0.99") and not needs_offer("/greet")
    # The widget's own language switch needs no offer; other languages or slots do.
    assert offered.allows("x", '/choose_language{"language":"hi"}')
    assert offered.allows("x", '/choose_language{"language": "en"}')
    assert not offered.allows("x", '/choose_language{"language":"fr"}')
    assert not offered.allows("x", '/choose_language{"language":"hi","role":"admin"}')
