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


async def open_session(ws) -> None:
    """Engine.IO open, then the widget's session handshake."""
    assert (await ws.receive_str()).startswith('0{"sid"')
    await ws.send_str(f'42["session_request",{{"session_id":"{SID}"}}]')
    assert await ws.receive_str() == f'42["session_confirm","{SID}"]'


class FakeUpstream:
    """Records frames a proxied connection delivers; sends Engine.IO's OPEN packet first."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/socket.io/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        assert request.query["EIO"] == "4" and request.query["transport"] == "websocket"
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connected.set()
        await ws.send_str('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.frames.append(msg.data)
                if msg.data.startswith('42["session_request"'):
                    await ws.send_str(f'42["session_confirm","{SID}"]')
                elif msg.data.startswith('42["user_uttered"'):
                    await ws.send_str(BOT_REPLY)
        self.closed.set()
        return ws


def run_proxy(body) -> None:
    """Run ``body(client, upstream)`` against a page server whose Rasa is a FakeUpstream."""

    async def main() -> None:
        upstream = FakeUpstream()
        async with TestServer(upstream.app()) as up_server:
            app = web_server.create_app(make_settings(rasa_url=str(up_server.make_url("")).rstrip("/")))
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
        await ws.send_str("40")
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


def test_messages_for_another_session_close_the_connection():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await open_session(ws)
        await ws.send_str(utter("hi", session_id="f" * 32))
        await ws.receive()
        assert ws.close_code == 1008
        await asyncio.wait_for(upstream.closed.wait(), 5)
        assert not any("user_uttered" in f for f in upstream.frames)

    run_proxy(body)


def test_entity_payloads_pass_only_when_the_bot_offered_them():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await open_session(ws)
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
        ('42["session_request",{"session_id":"../../telegram-123"}]', 1008),
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
        await asyncio.wait_for(upstream.closed.wait(), 5)
        assert upstream.frames == []  # nothing reached Rasa

    run_proxy(body)


def test_user_messages_over_the_rate_limit_are_dropped():
    async def body(client: TestClient, upstream: FakeUpstream) -> None:
        ws = await client.ws_connect(WS_PATH, headers={"Origin": ORIGIN})
        await open_session(ws)
        for _ in range(web_server.RATE_BURST + 5):
            await ws.send_str(utter("hi"))
        for _ in range(web_server.RATE_BURST):
            await ws.receive_str()
        await ws.close()
        await asyncio.wait_for(upstream.closed.wait(), 5)
        assert len([f for f in upstream.frames if "user_uttered" in f]) == web_server.RATE_BURST

    run_proxy(body)


def test_rasa_down_gives_502():
    async def body(client: TestClient) -> None:
        resp = await client.get(
            WS_PATH,
            headers={
                "Origin": ORIGIN,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert resp.status == 502

    # Port 9 (discard) is closed on loopback.
    run_with_client(web_server.create_app(make_settings(rasa_url="http://127.0.0.1:9")), body)


# ---------------------------------------------------------------- frame filter


@pytest.mark.parametrize(
    "frame, wire",
    [
        ("3", "3"),
        ("40", "40"),
        ('40{"token":"x"}', "40"),
        ("41", "41"),
        ('42["session_request",{"session_id":null}]', '42["session_request", {"session_id": null}]'),
        (f'42["session_request",{{"session_id":"{SID}","x":1}}]', f'42["session_request", {{"session_id": "{SID}"}}]'),
        (
            f'42["user_uttered",{{"message":"नमस्ते","session_id":"{SID}"}}]',
            f'42["user_uttered", {{"message": "नमस्ते", "session_id": "{SID}"}}]',
        ),
    ],
)
def test_frame_filter_accepts_the_widget_protocol(frame, wire):
    assert parse_client_frame(frame).wire == wire


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
        '42["user_uttered",{"message":"hi"}]',  # session id is required
        '42["user_uttered",{"message":"hi","session_id":"123456"}]',  # e.g. a Telegram user id
        f'42["user_uttered",{{"message":"hi","session_id":"{SID.upper()}"}}]',
        f'42["user_uttered",{{"message":"","session_id":"{SID}"}}]',
        f'42["user_uttered",{{"message":123,"session_id":"{SID}"}}]',
        '42["user_uttered",{"message":"' + "a" * 2001 + f'","session_id":"{SID}"}}]',
        '42["session_request",{"session_id":12}]',
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
