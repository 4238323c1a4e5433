"""Web page server: demo portal page, embeddable widget, vendor scripts and a socket.io proxy.

This is the only process that may listen on a public address. Rasa (and its
socket.io channel) stays on loopback; browsers reach it through
``/socket.io/``, where this server checks the Origin, validates every frame the
browser sends (see :mod:`bot.web.socketio_frames`) and relays Rasa's frames back.
Sessions are issued here (``POST /session``, see :mod:`bot.web.sessions`): each
connection is bound to the id in its signed token (socket.io auth) or cookie, and
every session id the browser sends is replaced by that one. The proxy answers the
Engine.IO handshake itself and opens Rasa's socket only after a CONNECT that proves a
session, so unauthenticated sockets cost Rasa nothing. It forwards ``/intent{entities}``
payloads only if the bot offered them as buttons, caps frame size (8 KB), caps sockets
in total and per client, and limits messages per session and per client (budgets that
a reconnect does not refill; see :class:`SocketLimits`). It closes Rasa's side when the
browser goes away. Logs never contain message text, and the access log holds client
addresses only when ``WEB_ACCESS_LOG_IPS`` is set.

Routes:
    ``/``                      demo training-portal page (``web/demo/index.html``)
    ``/demo/{name}``           other files of ``web/demo/``
    ``/widget/config.json``    the widget's languages and their texts (:mod:`bot.web.widget_config`)
    ``/widget/{name}``         ``web/widget/`` (``tutor-widget.js``, ``tutor-widget.css``)
    ``/vendor/{name}``         allow-listed prebuilt files from ``web/node_modules``
    ``/healthz``               liveness (does not call Rasa)
    ``POST /session``          issue or renew the browser's chat session (token + cookie)
    ``/socket.io/``            WebSocket proxy to ``{RASA_URL}/socket.io/``

Run with ``python -m bot.web.server`` (after ``npm ci --prefix web``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, ClientWSTimeout, WSMsgType, web

from bot.channels.rate_limit import ChatRateLimiter
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.web.sessions import COOKIE_NAME, SessionSigner, new_session_id
from bot.web.socketio_frames import (
    FrameRejected,
    OfferedPayloads,
    offered_payloads,
    parse_client_frame,
    parse_upstream_frame,
)
from bot.web.widget_config import widget_config

log = logging.getLogger("bot.web.server")  # stable name, also under `python -m`

WEB_DIR = PROJECT_ROOT / "web"
# Public name -> file under web/node_modules. Only these files are ever served from there.
VENDOR_FILES: dict[str, str] = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "purify.min.js": "dompurify/dist/purify.min.js",
    "markdown-it.min.js": "markdown-it/dist/browser/markdown-it.umd.min.js",
}
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
MAX_CLIENT_FRAME = 8 * 1024  # browser -> Rasa; a 2000-char message is well under this
MAX_UPSTREAM_FRAME = 1024 * 1024  # Rasa -> browser; answers with custom payloads can be long
UPSTREAM_CONNECT_TIMEOUT_S = 10
# A browser must send its socket.io CONNECT this soon after the upgrade, or the socket is closed.
CONNECT_TIMEOUT_S = 10
# The Engine.IO OPEN packet the proxy sends itself; the timings are python-engineio's defaults,
# which Rasa's socket.io channel uses, because Rasa's pings are relayed to the browser.
ENGINE_IO_OPEN_PREFIX = "0"
ENGINE_IO_OPEN = {"upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": MAX_CLIENT_FRAME}

SETTINGS_KEY = web.AppKey("settings", Settings)
CLIENT_KEY = web.AppKey("client", ClientSession)
FILES_KEY = web.AppKey("files", dict)
STATE_KEY = web.AppKey("state", dict)
OFFERED_KEY = web.AppKey("offered", OfferedPayloads)
SIGNER_KEY = web.AppKey("signer", SessionSigner)
MAX_SESSION_BODY = 1024
# socket.io CONNECT_ERROR for the default namespace; the widget then asks for a new session.
SESSION_REFUSED_FRAME = '44{"message":"session invalid"}'


def _allowed_files(folder: Path) -> dict[str, Path]:
    """Map file name -> path for the servable files directly inside ``folder``.

    A fixed map built at start-up means request paths are looked up, never joined
    onto the file system, so ``..`` and encoded variants cannot escape.
    """
    if not folder.is_dir():
        return {}
    return {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix in CONTENT_TYPES}


def _vendor_files(node_modules: Path) -> dict[str, Path]:
    files = {}
    for name, rel in VENDOR_FILES.items():
        path = node_modules / rel
        if path.is_file():
            files[name] = path
        else:
            log.error("vendor file missing: %s (run `npm ci --prefix web`)", rel)
    return files


def _file_response(path: Path | None, cache: str) -> web.StreamResponse:
    if path is None:
        raise web.HTTPNotFound()
    resp = web.FileResponse(path, headers={"Cache-Control": cache})
    resp.content_type = CONTENT_TYPES[path.suffix].split(";")[0]
    resp.charset = "utf-8" if "charset" in CONTENT_TYPES[path.suffix] else None
    return resp


async def index(request: web.Request) -> web.StreamResponse:
    """Serve the demo portal page."""
    return _file_response(request.app[FILES_KEY]["demo"].get("index.html"), "no-cache")


def _static(group: str, cache: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _file_response(request.app[FILES_KEY][group].get(request.match_info["name"]), cache)

    handler.__doc__ = f"Serve an allow-listed file of the {group!r} group."
    return handler


async def widget_config_json(request: web.Request) -> web.Response:
    """``GET /widget/config.json``: the interface languages and the widget's texts in each.

    Public data read by portals on other origins, without credentials: any origin may read it.
    """
    return web.json_response(widget_config(), headers={"Cache-Control": "no-cache",
                                                       "Access-Control-Allow-Origin": "*"})


async def healthz(request: web.Request) -> web.Response:
    """Liveness probe; does not depend on Rasa being up."""
    return web.json_response({"status": "ok"})


def _security_headers(settings: Settings) -> dict[str, str]:
    ancestors = getattr(settings, "web_frame_ancestors", "'self'") or "'none'"
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {ancestors}"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def _headers_middleware(settings: Settings):
    headers = _security_headers(settings)

    @web.middleware
    async def middleware(request: web.Request, handler):
        # Portals on other origins load the widget and vendor scripts with <script src>.
        public = request.path.startswith(("/widget/", "/vendor/"))
        extra = {**headers, "Cross-Origin-Resource-Policy": "cross-origin" if public else "same-origin"}
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(extra)
            raise
        if not resp.prepared:  # a WebSocket response has already sent its headers
            resp.headers.update(extra)
        return resp

    return middleware


def _cookie_attributes(request: web.Request, settings: Settings, max_age: int) -> dict:
    return {
        "max_age": max_age,
        "path": "/",
        "httponly": True,
        "samesite": "Strict",
        # Secure when configured (behind an https reverse proxy) or when serving https here.
        "secure": bool(getattr(settings, "web_cookie_secure", False) or request.secure),
    }


async def issue_session(request: web.Request) -> web.Response:
    """``POST /session``: return a signed session token and set it as a cookie.

    The body (``text/plain`` JSON, so cross-origin portals need no CORS preflight) may
    hold ``{"token": <previous token>}`` to continue that session, or ``{"new": true}``
    to start afresh (the widget's reset button). Without a valid token the session
    cookie, if valid, is continued; otherwise a new random id is drawn. The response is
    ``{"token": ...}`` (a fresh token, same id) and the same token as an ``HttpOnly``,
    ``SameSite=Strict`` cookie.

    Refuses (403) an Origin not in ``settings.web_allowed_origins``, (413) a large body,
    (400) a body that is not a JSON object.
    """
    app = request.app
    settings = app[SETTINGS_KEY]
    origin = request.headers.get("Origin", "")
    if origin not in settings.web_allowed_origins:
        log.warning("session: refused origin %r", origin[:100])
        raise web.HTTPForbidden(text="origin not allowed")
    if (request.content_length or 0) > MAX_SESSION_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_SESSION_BODY, actual_size=request.content_length or 0)
    raw = await request.content.read(MAX_SESSION_BODY + 1)
    if len(raw) > MAX_SESSION_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_SESSION_BODY, actual_size=len(raw))
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise web.HTTPBadRequest(text="JSON object expected") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="JSON object expected")
    signer = app[SIGNER_KEY]
    session_id = None
    if body.get("new") is not True:
        session_id = signer.verify(body.get("token")) or signer.verify(request.cookies.get(COOKIE_NAME))
    renewed = session_id is not None
    session_id = session_id or new_session_id()
    token = signer.issue(session_id)
    resp = web.json_response(
        {"token": token},
        headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": origin, "Vary": "Origin"},
    )
    resp.set_cookie(COOKIE_NAME, token, **_cookie_attributes(request, settings, signer.max_age_s))
    log.info("session: %s", "renewed" if renewed else "issued")
    return resp


def trusted_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse ``WEB_TRUSTED_PROXIES`` entries (addresses or networks such as ``172.16.0.0/12``).

    Args:
        entries: The configured entries.

    Returns:
        The networks.

    Raises:
        ValueError: An entry is neither an address nor a network (the server refuses to start).
    """
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ValueError(f"WEB_TRUSTED_PROXIES: {exc}") from exc


def client_address(request: web.Request, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The address connection caps and message budgets are keyed by.

    Args:
        request: The upgrade request.
        trusted: Networks of peers whose ``X-Forwarded-For`` is believed (a reverse proxy
            such as scaled mode's nginx, which appends the client it saw).

    Returns:
        The peer address, or the last ``X-Forwarded-For`` entry when the peer is trusted.
    """
    peer = request.remote or ""
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        peer_ip = None
    if peer_ip is not None and any(peer_ip in network for network in trusted):
        # The right-most entry is the one the trusted proxy appended; earlier ones are the client's word.
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:64]
    return peer


class SocketLimits:
    """Connection counts and message budgets of the socket.io proxy.

    Budgets live here, per application, keyed by session id and by client address, so a
    browser that reconnects (or opens a new socket) continues with the budget it had.
    Memory stays bounded: the buckets are LRU-capped and connection counts exist only for
    clients with open sockets.

    Args:
        settings: ``web_max_connections``, ``web_max_connections_per_client``,
            ``web_rate_burst``/``web_rate_per_s`` (per session) and
            ``web_client_rate_burst``/``web_client_rate_per_s`` (per client).
    """

    def __init__(self, settings: Settings) -> None:
        self.max_connections = settings.web_max_connections
        self.max_per_client = settings.web_max_connections_per_client
        self.open: dict[str, int] = {}
        self.sessions = ChatRateLimiter(settings.web_rate_burst, settings.web_rate_per_s, max_chats=100_000)
        self.clients = ChatRateLimiter(settings.web_client_rate_burst, settings.web_client_rate_per_s,
                                       max_chats=100_000)

    @property
    def total(self) -> int:
        """Open proxied sockets."""
        return sum(self.open.values())

    def reserve(self, client: str) -> None:
        """Count a new socket of ``client``.

        Args:
            client: From :func:`client_address`.

        Raises:
            web.HTTPServiceUnavailable: The server is full.
            web.HTTPTooManyRequests: This client has its share of sockets already.
        """
        if self.total >= self.max_connections:
            raise web.HTTPServiceUnavailable(text="too many connections")
        if self.open.get(client, 0) >= self.max_per_client:
            raise web.HTTPTooManyRequests(text="too many connections from this client")
        self.open[client] = self.open.get(client, 0) + 1

    def release(self, client: str) -> None:
        """Forget one socket of ``client``."""
        left = self.open.get(client, 0) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)

    def allow_message(self, session_id: str, client: str) -> bool:
        """Spend one user message of the session's and the client's budgets.

        Args:
            session_id: The session bound to the socket.
            client: From :func:`client_address`.

        Returns:
            Whether the message may go to Rasa.
        """
        # Session first: a learner flooding their own session must not drain the budget of
        # everyone behind the same address (an office NAT).
        return self.sessions.check(session_id)[0] and self.clients.check(client)[0]


LIMITS_KEY = web.AppKey("limits", SocketLimits)
TRUSTED_KEY = web.AppKey("trusted_proxies", tuple)


async def _await_connect(ws: web.WebSocketResponse, signer: SessionSigner, cookie_session: str | None) -> str | None:
    """Read the browser's socket.io CONNECT and return the session it proves, else None.

    Nothing but a pong may come first. A refused session gets ``SESSION_REFUSED_FRAME``
    (the widget then asks for a new session); the caller closes the socket.
    """
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                log.warning("socket.io proxy: closing on %s frame before CONNECT", msg.type.name)
                await ws.close(code=1009 if msg.type == WSMsgType.ERROR else 1003)
                return None
            try:
                frame = parse_client_frame(msg.data)
            except FrameRejected as exc:
                log.warning("socket.io proxy: closing on rejected frame (%s)", exc)
                return None
            if frame.event == "connect":
                # The token in the CONNECT auth wins (cross-site embeds have no cookie);
                # otherwise the cookie read at the upgrade.
                token = frame.auth.get("token")
                session = signer.verify(token) if token is not None else cookie_session
                if session is None:
                    log.warning("socket.io proxy: refused a CONNECT without a valid session")
                    await ws.send_str(SESSION_REFUSED_FRAME)
                return session
            if frame.event:
                log.warning("socket.io proxy: closing on an event before CONNECT")
                return None
    return None


async def _open_upstream(app: web.Application, session_id: str):
    """Open Rasa's socket for a verified session and consume its Engine.IO OPEN packet.

    Returns:
        The upstream WebSocket, or None when Rasa cannot be reached.
    """
    settings = app[SETTINGS_KEY]
    upstream_url = f"{settings.rasa_url}/socket.io/?EIO=4&transport=websocket"
    try:
        upstream = await app[CLIENT_KEY].ws_connect(
            upstream_url,
            max_msg_size=MAX_UPSTREAM_FRAME,
            timeout=ClientWSTimeout(ws_close=UPSTREAM_CONNECT_TIMEOUT_S),
            # Scaled mode's balancer hashes socket.io on this header to pick the Rasa replica.
            headers={"X-Tutor-Sender": session_id},
        )
    except (TimeoutError, ClientError, OSError) as exc:
        log.error("socket.io proxy: Rasa unreachable at %s (%s)", settings.rasa_url, type(exc).__name__)
        return None
    try:
        async with asyncio.timeout(UPSTREAM_CONNECT_TIMEOUT_S):
            opening = await upstream.receive()
    except TimeoutError:
        opening = None
    if opening is None or opening.type != WSMsgType.TEXT or not opening.data.startswith("0"):
        log.error("socket.io proxy: Rasa did not open the Engine.IO session")
        await upstream.close()
        return None
    return upstream


async def _browser_to_upstream(
    ws: web.WebSocketResponse, upstream, conn: dict, offered: OfferedPayloads, limits: SocketLimits
) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            # Binary frames are not part of the protocol; oversized frames arrive as ERROR.
            log.warning("socket.io proxy: closing on %s frame from browser", msg.type.name)
            await ws.close(code=1009 if msg.type == WSMsgType.ERROR else 1003)
            return
        try:
            frame = parse_client_frame(msg.data)
            if frame.event == "connect":
                raise FrameRejected("second CONNECT")
        except FrameRejected as exc:
            log.warning("socket.io proxy: closing on rejected frame (%s)", exc)
            await ws.close(code=1008)
            return
        if frame.event == "user_uttered":
            if not offered.allows(conn["session"], frame.message):
                log.warning("socket.io proxy: dropped an intent payload the bot did not offer")
                continue
            if not limits.allow_message(conn["session"], conn["client"]):
                log.warning("socket.io proxy: dropped a message over the rate limit")
                continue
        conn["in"] += 1
        # Whatever session id the browser named, Rasa hears the one bound to this connection.
        await upstream.send_str(frame.for_session(conn["session"]))


async def _upstream_to_browser(ws: web.WebSocketResponse, upstream, conn: dict, offered: OfferedPayloads) -> None:
    async for msg in upstream:
        if msg.type != WSMsgType.TEXT:
            return
        event = parse_upstream_frame(msg.data)
        if event and event[0] == "bot_uttered":
            offered.add(conn["session"], offered_payloads(event[1]))
        conn["out"] += 1
        await ws.send_str(msg.data)


async def _relay(ws: web.WebSocketResponse, upstream, conn: dict, app: web.Application) -> None:
    tasks = [
        asyncio.create_task(_browser_to_upstream(ws, upstream, conn, app[OFFERED_KEY], app[LIMITS_KEY])),
        asyncio.create_task(_upstream_to_browser(ws, upstream, conn, app[OFFERED_KEY])),
    ]
    # Whichever side ends first ends the relay; the other is cancelled and closed.
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def socketio_proxy(request: web.Request) -> web.StreamResponse:
    """Relay a browser's socket.io WebSocket to Rasa's socket.io channel.

    Refuses (403) an Origin not in ``settings.web_allowed_origins``, (400) anything
    but an Engine.IO 4 WebSocket handshake, (503) when full, (429) when this client
    already holds ``web_max_connections_per_client`` sockets. After the upgrade the
    proxy itself opens the Engine.IO session and waits for the socket.io CONNECT:
    only a CONNECT proving a session (token or cookie) opens a socket to Rasa.
    If Rasa is down the socket is closed with 1011 (the widget reconnects).
    """
    app = request.app
    settings = app[SETTINGS_KEY]
    origin = request.headers.get("Origin", "")
    if origin not in settings.web_allowed_origins:
        log.warning("socket.io proxy: refused origin %r", origin[:100])
        raise web.HTTPForbidden(text="origin not allowed")
    query = request.query
    if query.get("EIO") != "4" or query.get("transport") != "websocket" or "sid" in query:
        raise web.HTTPBadRequest(text="only Engine.IO 4 over WebSocket is supported")
    ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_FRAME, autoping=True)
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="WebSocket upgrade expected")
    limits = app[LIMITS_KEY]
    client = client_address(request, app[TRUSTED_KEY])
    try:
        limits.reserve(client)
    except web.HTTPException:
        log.warning("socket.io proxy: refused a socket (%d open)", limits.total)
        raise
    state = app[STATE_KEY]
    signer = app[SIGNER_KEY]
    conn = {"in": 0, "out": 0, "session": None, "client": client}
    upstream = None
    try:
        await ws.prepare(request)
        state["sockets"].add(ws)  # prepared: shutdown may close it
        await ws.send_str(ENGINE_IO_OPEN_PREFIX + json.dumps({"sid": new_session_id(), **ENGINE_IO_OPEN},
                                                              separators=(",", ":")))
        try:
            session = await _await_connect(ws, signer, signer.verify(request.cookies.get(COOKIE_NAME)))
        except TimeoutError:
            log.warning("socket.io proxy: no CONNECT within %d s", CONNECT_TIMEOUT_S)
            session = None
        if session is None:
            await ws.close(code=1008)
            return ws
        upstream = await _open_upstream(app, session)
        if upstream is None:
            await ws.close(code=1011, message=b"chat service unavailable")
            return ws
        conn["session"] = session
        await upstream.send_str("40")
        state["conns"][ws] = conn  # [human loop] trainers' messages are pushed by session id
        log.info("socket.io proxy: opened (origin %s, %d open)", origin, limits.total)
        await _relay(ws, upstream, conn, app)
    finally:
        limits.release(client)
        state["sockets"].discard(ws)
        state["conns"].pop(ws, None)
        if upstream is not None:
            await upstream.close()
        await ws.close()
        log.info("socket.io proxy: closed (%d frames in, %d out)", conn["in"], conn["out"])
    return ws


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, tell browsers we are going away so they reconnect to the next instance."""
    for ws in list(app[STATE_KEY]["sockets"]):
        await ws.close(code=1001, message=b"server shutdown")


async def _trainer_push_ctx(app: web.Application):
    """[human loop] Push trainers' waiting messages to connected sessions (bot/handoff/web_push.py)."""
    from bot.handoff.web_push import connected_sessions, outbox_taker, push_forever

    conns = app[STATE_KEY]["conns"]
    task = asyncio.create_task(push_forever(lambda: connected_sessions(conns),
                                            outbox_taker(app[SETTINGS_KEY].database_url)))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _client_ctx(app: web.Application):
    app[CLIENT_KEY] = ClientSession(timeout=ClientTimeout(total=None, connect=UPSTREAM_CONNECT_TIMEOUT_S))
    yield
    await app[CLIENT_KEY].close()


def create_app(settings: Settings, web_dir: Path = WEB_DIR) -> web.Application:
    """Build the page server application.

    Args:
        settings: Runtime settings (``rasa_url``, ``web_allowed_origins``, ``web_frame_ancestors``,
            ``web_session_secret``, ``web_session_max_age_s``, ``web_cookie_secure``).
        web_dir: Folder holding ``demo/``, ``widget/`` and ``node_modules/``.

    Returns:
        The aiohttp application, ready for ``web.run_app`` or a test server.
    """
    app = web.Application(middlewares=[_headers_middleware(settings)], client_max_size=64 * 1024)
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = {"sockets": set(), "conns": {}}
    app[LIMITS_KEY] = SocketLimits(settings)
    app[TRUSTED_KEY] = trusted_networks(settings.web_trusted_proxies)
    app[OFFERED_KEY] = OfferedPayloads()
    app[SIGNER_KEY] = SessionSigner(settings.web_session_secret, int(settings.web_session_max_age_s))
    app[FILES_KEY] = {
        "demo": _allowed_files(web_dir / "demo"),
        "widget": _allowed_files(web_dir / "widget"),
        "vendor": _vendor_files(web_dir / "node_modules"),
    }
    app.cleanup_ctx.append(_client_ctx)
    app.cleanup_ctx.append(_trainer_push_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/demo/{name}", _static("demo", "no-cache"))
    app.router.add_get("/widget/config.json", widget_config_json)  # before the files' route, which would shadow it
    app.router.add_get("/widget/{name}", _static("widget", "no-cache"))
    app.router.add_get("/vendor/{name}", _static("vendor", "public, max-age=86400"))
    app.router.add_post("/session", issue_session)
    app.router.add_get("/socket.io/", socketio_proxy)
    return app


def main() -> None:
    """Run the page server on ``settings.web_host:settings.web_port``."""
    settings = load_settings()
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    log.info("web: http://%s:%d/ -> Rasa %s", settings.web_host, settings.web_port, settings.rasa_url)
    web.run_app(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        print=None,
        access_log_format=access_log_format(settings),
    )


def access_log_format(settings: Settings) -> str:
    """The page server's access-log line: no Referer, and no client address unless opted in.

    Args:
        settings: ``web_access_log_ips`` (``WEB_ACCESS_LOG_IPS``) adds the client address.

    Returns:
        An aiohttp access-log format.
    """
    line = '"%r" %s %b %Tfs'
    return f"%a {line}" if settings.web_access_log_ips else line


if __name__ == "__main__":
    main()
