"""Loopback HTTP endpoint through which other components message a learner on Telegram.

Rasa only talks when spoken to; reminders (spaced review due) and a trainer's reply arrive
later. The action server knows learners by pseudonym only, so it asks the bridge, which
alone knows pseudonym -> chat id:

``POST /proactive``  ``{"sender": "tg-...", "text": "...", "buttons": [{"title", "payload"}]}``
``POST /forget``     ``{"sender": "tg-..."}`` (drop the mapping after data deletion)

Both need ``Authorization: Bearer <ACTION_SERVER_TOKEN>`` (the action token from settings).
The server binds 127.0.0.1 only. Replies: 200 ``{"ok": true, "message_ids": [...]}``,
400 bad body, 401 missing/wrong token, 404 unknown sender, 410 the learner blocked the bot.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol

from aiohttp import web

LOGGER = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class UnknownSender(LookupError):
    """No Telegram chat is known for this pseudonym."""


class RecipientGone(Exception):
    """The learner blocked the bot or the chat no longer exists."""


class ProactiveTarget(Protocol):
    """What the endpoint needs from the bridge."""

    async def deliver_to(self, sender: str, replies: list[dict[str, Any]]) -> list[int]:
        """Send Rasa-shaped replies to the chat behind ``sender``; return message ids."""

    def forget(self, sender: str) -> bool:
        """Drop the chat mapping of ``sender``; return whether one existed."""


def _authorised(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body must be JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("sender"), str):
        raise web.HTTPBadRequest(text='body must be an object with a "sender" string')
    return body


class ProactiveServer:
    """The aiohttp server behind ``/proactive`` and ``/forget``.

    Args:
        target: The bridge.
        token: Shared secret callers must present.
        port: Loopback port; 0 picks a free one (tests), see :attr:`port` after start.
    """

    def __init__(self, target: ProactiveTarget, token: str, port: int) -> None:
        if not token:
            raise ValueError("the proactive endpoint needs a token")
        self._target = target
        self._token = token
        self.port = port
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/proactive", self._proactive)
        app.router.add_post("/forget", self._forget)
        return app

    async def start(self) -> None:
        """Start listening on 127.0.0.1."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        LOGGER.info("Proactive endpoint on http://%s:%d/proactive", LOOPBACK, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _proactive(self, request: web.Request) -> web.Response:
        if not _authorised(request, self._token):
            raise web.HTTPUnauthorized(text="missing or wrong token")
        body = await _json_body(request)
        text = body.get("text")
        buttons = body.get("buttons") or []
        if text is not None and not isinstance(text, str):
            raise web.HTTPBadRequest(text='"text" must be a string')
        if not isinstance(buttons, list) or not all(isinstance(b, dict) for b in buttons):
            raise web.HTTPBadRequest(text='"buttons" must be a list of objects')
        if not text and not buttons:
            raise web.HTTPBadRequest(text='give "text" or "buttons"')
        reply: dict[str, Any] = {"text": text, "buttons": buttons}
        try:
            message_ids = await self._target.deliver_to(body["sender"], [reply])
        except UnknownSender as exc:
            raise web.HTTPNotFound(text="unknown sender") from exc
        except RecipientGone as exc:
            raise web.HTTPGone(text="the learner can no longer be reached") from exc
        return web.json_response({"ok": True, "message_ids": message_ids})

    async def _forget(self, request: web.Request) -> web.Response:
        if not _authorised(request, self._token):
            raise web.HTTPUnauthorized(text="missing or wrong token")
        body = await _json_body(request)
        return web.json_response({"ok": True, "forgotten": self._target.forget(body["sender"])})
