"""Pushing trainers' messages to web-widget learners who are connected right now.

Rasa only speaks when spoken to, and its HTTP API stays off, so the page server (which
holds every browser's socket.io connection) polls the outbox for messages addressed to
the sessions it has open and writes them to those sockets as ordinary ``bot_uttered``
frames. Learners who are not connected get them on their next turn instead (the actions
read the same outbox). One query per poll for all connections, not one per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp.web import WebSocketResponse

    from bot.handoff.records import HandoffRecords

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 2.0


def bot_uttered_frame(text: str) -> str:
    """A Socket.IO EVENT packet (Engine.IO message) carrying one bot message."""
    return "42" + json.dumps(["bot_uttered", {"text": text}], ensure_ascii=False)


async def push_once(connected: Mapping[str, Callable[[str], Awaitable[None]]],
                    take: Callable[[Collection[str]], dict[str, list[str]]]) -> int:
    """Deliver waiting messages to connected sessions once.

    Args:
        connected: session id -> coroutine function sending one raw frame to that browser.
        take: returns (and marks delivered) waiting messages for the given session ids.

    Returns:
        Frames sent.
    """
    if not connected:
        return 0
    waiting = await asyncio.to_thread(take, list(connected))
    sent = 0
    for session, texts in waiting.items():
        send = connected.get(session)
        for text in texts:
            if send is None:
                break
            try:
                await send(bot_uttered_frame(text))
                sent += 1
            except (ConnectionError, RuntimeError) as exc:  # closed meanwhile: it was marked; log it
                log.warning("trainer message lost for a closed web session: %s", type(exc).__name__)
                break
    return sent


async def push_forever(connected: Callable[[], Mapping[str, Callable[[str], Awaitable[None]]]],
                       take: Callable[[Collection[str]], dict[str, list[str]]],
                       interval: float = POLL_INTERVAL_S) -> None:
    """Run :func:`push_once` every ``interval`` seconds until cancelled (errors are logged, not fatal)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await push_once(connected(), take)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pushing trainer messages to web sessions failed")


def outbox_taker(database_url: str) -> Callable[[Collection[str]], dict[str, list[str]]]:
    """A ``take`` function over the learner store at ``database_url`` (connects on first use).

    Args:
        database_url: the store's SQLAlchemy URL (the page server's own settings).

    Returns:
        A function suitable for :func:`push_forever`.
    """
    holder: dict[str, HandoffRecords] = {}

    def take(sessions: Collection[str]) -> dict[str, list[str]]:
        records = holder.get("records")
        if records is None:
            from bot.handoff.records import HandoffRecords
            from bot.store import make_engine, migrate, session_factory

            engine = make_engine(database_url)
            migrate(engine)
            records = holder["records"] = HandoffRecords(session_factory(engine))
        return records.take_pending_many(list(sessions))

    return take


def connected_sessions(conns: Mapping[WebSocketResponse, dict]) -> dict[str, Callable[[str], Awaitable[None]]]:
    """Session id -> ``send_str`` of its open WebSocket, from the page server's connection table."""
    return {conn["session"]: ws.send_str for ws, conn in list(conns.items())
            if conn.get("session") and not ws.closed}
