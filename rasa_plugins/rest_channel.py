"""The REST channel, answering **503** when a turn fails instead of an empty 200.

Rasa 3.6's own ``RestInput`` catches every exception of a turn (tracker database down,
Redis lock store down, ...), logs it and answers ``200 []``: the Telegram bridge then
cannot tell an outage from a turn with nothing to say and the learner hears nothing.
This subclass keeps the same URL (``/webhooks/rest/webhook``), request format and
``input_channel`` name ("rest"), and answers ``503 {"error": "unavailable"}`` when the
turn raised, so callers show their own "try again shortly" message (the bridge maps
HTTP 5xx to :class:`bot.channels.rasa_client.RasaUnavailable`).

Used by scaled mode (``credentials.scaled.yml``), where the tracker and lock stores are
separate services that can fail; streaming (``?stream=true``) is not offered.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

log = logging.getLogger(__name__)


def _causes(exc: BaseException, limit: int = 4) -> str:
    """Qualified class names along the exception chain, e.g. ``LockError <- ConnectionError``.

    Args:
        exc: The exception raised by the turn.
        limit: Longest chain shown.

    Returns:
        ``"rasa.core.lock_store.LockError <- redis.exceptions.ConnectionError"`` and the like
        (Rasa wraps the store's own error, which names the service that failed).
    """
    names: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(names) < limit:
        seen.add(id(current))
        names.append(f"{type(current).__module__}.{type(current).__name__}")
        current = current.__cause__ or current.__context__
    return " <- ".join(names)


class TutorRestInput(RestInput):
    """``rest`` channel whose failed turns answer HTTP 503 (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        """The channel's name in ``credentials.yml`` (it replaces Rasa's own ``rest``)."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The ``/`` health route and the ``/webhook`` route.

        Args:
            on_new_message: Rasa's handler of one user message.

        Returns:
            The Sanic blueprint mounted under ``/webhooks/rest``.
        """
        module = inspect.getmodule(self)
        hook = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender_id,
                                                 input_channel=self._extract_input_channel(request),
                                                 metadata=self.get_metadata(request)))
            except asyncio.CancelledError:
                log.error("rest turn cancelled (timeout)")
                return response.json({"error": "timeout"}, status=503)
            except Exception as exc:  # noqa: BLE001 - any store failure is an outage for the caller
                # The exception type only: the message may quote the learner's text.
                log.error("rest turn failed: %s", _causes(exc), exc_info=log.isEnabledFor(logging.DEBUG))
                return response.json({"error": "unavailable"}, status=503)
            return response.json(collector.messages)

        return hook
