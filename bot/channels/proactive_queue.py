"""Messages for Telegram learners left in the bridges' shared store, for any bridge to send.

Reminders and trainers' replies start in other processes (the background worker, the
trainer console). On one machine they reach the bridge through its loopback ``/proactive``
endpoint (:mod:`bot.channels.proactive`). On a cluster the bridges run in other pods, so
when the bridges share a database server (``TELEGRAM_STORE_URL``) those processes write
the message into ``proactive_requests`` instead, and every bridge drains the table: one
bridge leases a row, sends it through the same path as ``/proactive`` (the chat's lock,
the outbox with its retries) and deletes it. A bridge that dies mid-send leaves its lease
to expire and another bridge sends the message again: at least once, never lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from bot.channels.bridge_tables import chats, open_bridge_engine, proactive_requests

log = logging.getLogger(__name__)

#: How long a bridge may take to hand a message to its outbox before another bridge may.
LEASE_S = 30.0
#: Messages older than this are dropped (a reminder a day late is noise), like the outbox's expiry.
EXPIRY_S = 24 * 3600.0


@dataclass(frozen=True)
class QueuedMessage:
    """One message waiting for a bridge."""

    id: int
    sender: str
    replies: list[dict[str, Any]]
    created_at: float


class ProactiveQueue:
    """The ``proactive_requests`` table.

    Args:
        engine: The bridge store's engine (:func:`bot.channels.bridge_tables.open_bridge_engine`).
        lease_s: See :data:`LEASE_S`.
        expiry_s: See :data:`EXPIRY_S`.
        clock: Seconds since the epoch (tests move it).
    """

    def __init__(self, engine: Engine, lease_s: float = LEASE_S, expiry_s: float = EXPIRY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine, self.lease_s, self.expiry_s, self.clock = engine, lease_s, expiry_s, clock

    @classmethod
    def open(cls, url: str) -> ProactiveQueue:
        """The queue in the store at ``url`` (``TELEGRAM_STORE_URL``), tables created if missing.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The store cannot be reached.
        """
        return cls(open_bridge_engine(url))

    def put(self, sender: str, replies: list[dict[str, Any]]) -> bool:
        """Leave messages for the learner behind ``sender``.

        Args:
            sender: The pseudonymous Rasa sender id (``tg-...``).
            replies: Rasa-shaped messages (``text``, ``buttons``).

        Returns:
            ``False`` when no bridge knows a chat for ``sender`` (nothing is stored).
        """
        with self.engine.begin() as conn:
            if conn.execute(select(chats.c.chat_id).where(chats.c.sender == sender)).first() is None:
                return False
            conn.execute(insert(proactive_requests).values(
                sender=sender, replies=json.dumps(replies, ensure_ascii=False), created_at=self.clock(),
                lease_until=0.0))
        return True

    def take(self, limit: int = 20) -> list[QueuedMessage]:
        """Lease the oldest messages no other bridge is sending, oldest first.

        On PostgreSQL a second bridge's ``UPDATE`` waits for the first one's and then finds the
        lease taken, so each message goes to one bridge at a time.

        Args:
            limit: At most this many.

        Returns:
            The leased messages; :meth:`done` each once it is in the outbox.
        """
        now = self.clock()
        table = proactive_requests
        with self.engine.begin() as conn:
            ids = list(conn.execute(select(table.c.id).where(table.c.lease_until < now)
                                    .order_by(table.c.id).limit(limit)).scalars())
            if not ids:
                return []
            rows = conn.execute(update(table).where(table.c.id.in_(ids), table.c.lease_until < now)
                                .values(lease_until=now + self.lease_s)
                                .returning(table.c.id, table.c.sender, table.c.replies, table.c.created_at)).all()
        return sorted((QueuedMessage(int(r.id), r.sender, json.loads(r.replies), float(r.created_at)) for r in rows),
                      key=lambda m: m.id)

    def expired(self, message: QueuedMessage) -> bool:
        """Whether ``message`` waited longer than the expiry."""
        return self.clock() - message.created_at > self.expiry_s

    def done(self, message_id: int) -> None:
        """Remove a message that was handed to the outbox (or given up)."""
        with self.engine.begin() as conn:
            conn.execute(delete(proactive_requests).where(proactive_requests.c.id == message_id))

    def forget(self, sender: str) -> int:
        """Remove every message waiting for ``sender`` (erasure). Returns how many."""
        with self.engine.begin() as conn:
            return len(conn.execute(delete(proactive_requests).where(proactive_requests.c.sender == sender)
                                    .returning(proactive_requests.c.id)).all())
