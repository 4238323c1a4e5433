"""The Telegram bridge's small durable store (SQLite, default ``.state/telegram.db``).

Four tables, all owned by the bridge alone, and the bridge's outbox (``outbox``, see
:mod:`bot.channels.outbox`):

- ``processed_updates``: every ``update_id`` the bridge has taken on, so an update that
  Telegram delivers again (webhook retry, polling restart before the offset was
  confirmed) is processed once, also across restarts.
- ``chats``: pseudonymous Rasa sender id -> Telegram chat id, so proactive messages
  (reminders, trainer replies) addressed to a pseudonym can reach the chat.
- ``callback_payloads``: button payloads too long for Telegram's 64-byte ``callback_data``.
- ``quiz_polls``: quiz polls the bridge sent: poll id -> chat, sender, quiz item and the
  Rasa payload of each option, so a ``poll_answer`` update (which names the poll, not
  the chat) becomes the same message a button press of that option would send.

All calls are short single-statement transactions. They run on the event loop thread;
with WAL and ``synchronous=NORMAL`` each takes well under a millisecond on local disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bot.channels.outbox import DEFAULT_EXPIRY_S, Outbox

# Telegram keeps undelivered updates for 24 hours; remembering ids for a week is ample.
UPDATE_RETENTION_S = 7 * 24 * 3600
MAX_CALLBACK_PAYLOADS = 20000
# A paused quiz resumes with a new poll, so an old poll is only kept long enough to be answered.
POLL_RETENTION_S = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_updates (
    bot_id TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (bot_id, update_id)
);
CREATE TABLE IF NOT EXISTS chats (
    sender TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS callback_payloads (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    used_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS callback_payloads_used ON callback_payloads (used_at);
CREATE TABLE IF NOT EXISTS quiz_polls (
    poll_id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    item_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    answers TEXT NOT NULL,
    sent_at REAL NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS quiz_polls_chat ON quiz_polls (chat_id);
"""


@dataclass(frozen=True)
class SentPoll:
    """A quiz poll the bridge sent.

    Attributes:
        poll_id: Telegram's poll id.
        chat_id: The chat it was sent to.
        sender: The chat's pseudonymous Rasa sender id.
        item_id: The quiz item it asks.
        message_id: The poll's message (to retire its Skip/Stop buttons).
        answers: The Rasa payload of each option, in option order.
        answered: Whether an answer to this item was already taken from one of the chat's polls.
    """

    poll_id: str
    chat_id: int
    sender: str
    item_id: str
    message_id: int
    answers: tuple[str, ...]
    answered: bool = False


class TelegramStore:
    """Durable de-duplication, pseudonym -> chat mapping, long button payloads, quiz polls, the outbox.

    Args:
        path: SQLite file; its folder is created if missing.
        outbox_expiry_s: How long an undelivered message stays in :attr:`outbox`.
        chat_retention_s: drop chat mappings idle this long (``TUTOR_RETENTION_DAYS``) when
            pruning; None keeps them until the learner's data is erased.
    """

    def __init__(self, path: Path, outbox_expiry_s: float = DEFAULT_EXPIRY_S,
                 chat_retention_s: float | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.chat_retention_s = chat_retention_s
        # isolation_level=None: autocommit; each statement is its own transaction.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.outbox = Outbox(self._db, outbox_expiry_s)
        self.prune()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def claim_update(self, bot_id: str, update_id: int) -> bool:
        """Record that ``update_id`` is being processed.

        Claiming happens before the update is handled (at-most-once): if the bridge dies
        mid-way the message is not replayed, which beats sending a quiz answer to Rasa
        twice. Keyed by bot id because update ids are per bot.

        Args:
            bot_id: The bot's numeric id (the token's prefix).
            update_id: Telegram's update id.

        Returns:
            ``True`` if this is the first time the update is seen, ``False`` for a duplicate.
        """
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO processed_updates (bot_id, update_id, seen_at) VALUES (?, ?, ?)",
            (bot_id, update_id, time.time()),
        )
        return cursor.rowcount == 1

    def remember_chat(self, sender: str, chat_id: int) -> None:
        """Store (or refresh) the chat behind a pseudonymous sender id.

        Args:
            sender: The pseudonymous Rasa sender id.
            chat_id: The Telegram chat id.
        """
        self._db.execute(
            "INSERT INTO chats (sender, chat_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(sender) DO UPDATE SET chat_id = excluded.chat_id, "
            "updated_at = excluded.updated_at",
            (sender, chat_id, time.time()),
        )

    def chat_for(self, sender: str) -> int | None:
        """Return the chat id for a pseudonymous sender, or ``None`` if unknown.

        Args:
            sender: The pseudonymous Rasa sender id.

        Returns:
            The Telegram chat id or ``None``.
        """
        row = self._db.execute("SELECT chat_id FROM chats WHERE sender = ?", (sender,)).fetchone()
        return int(row[0]) if row else None

    def forget_chat(self, sender: str) -> bool:
        """Drop the mapping for ``sender`` and what still waits for that chat in the outbox.

        Called when the learner erased their data: the queued messages are replies to them
        (their wording quoted back, their progress), so they go too. The reply confirming
        the erasure is queued after this call and is still delivered.

        Args:
            sender: The pseudonymous Rasa sender id.

        Returns:
            ``True`` if a mapping was removed.
        """
        chat_id = self.chat_for(sender)
        if chat_id is None:
            return False
        self._db.execute("DELETE FROM chats WHERE sender = ?", (sender,))
        self._db.execute("DELETE FROM quiz_polls WHERE chat_id = ?", (chat_id,))
        self.outbox.remove_chat(chat_id)
        return True

    def put_poll(self, poll: SentPoll) -> None:
        """Remember a quiz poll just sent.

        Args:
            poll: The poll, its chat, quiz item and option payloads.
        """
        self._db.execute(
            "INSERT OR REPLACE INTO quiz_polls (poll_id, chat_id, sender, item_id, message_id, answers, sent_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (poll.poll_id, poll.chat_id, poll.sender, poll.item_id, poll.message_id,
             json.dumps(list(poll.answers)), time.time()),
        )

    def get_poll(self, poll_id: str) -> SentPoll | None:
        """Return the quiz poll with ``poll_id``, or ``None`` if unknown (or pruned).

        Args:
            poll_id: Telegram's poll id from a ``poll_answer`` update.

        Returns:
            The poll as stored.
        """
        row = self._db.execute(
            "SELECT poll_id, chat_id, sender, item_id, message_id, answers, answered FROM quiz_polls "
            "WHERE poll_id = ?", (poll_id,)).fetchone()
        if row is None:
            return None
        return SentPoll(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]),
                        tuple(json.loads(row[5])), bool(row[6]))

    def latest_poll_item(self, chat_id: int) -> str | None:
        """The quiz item of the newest poll sent to a chat (the question it waits on).

        Args:
            chat_id: Telegram chat id.

        Returns:
            The item id, or ``None`` when no poll is remembered for the chat.
        """
        row = self._db.execute(
            "SELECT item_id FROM quiz_polls WHERE chat_id = ? ORDER BY rowid DESC LIMIT 1", (chat_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def claim_poll_answer(self, poll: SentPoll) -> bool:
        """Mark the chat's polls of ``poll``'s item answered; only the first claim succeeds.

        The same question can be on screen twice (asked again after a digression): one
        answer to either poll is taken, like one button press.

        Args:
            poll: The poll answered.

        Returns:
            ``True`` if no answer to this item was taken from the chat's polls before.
        """
        cursor = self._db.execute(
            "UPDATE quiz_polls SET answered = 1 WHERE chat_id = ? AND item_id = ? AND answered = 0",
            (poll.chat_id, poll.item_id),
        )
        return cursor.rowcount > 0

    def put_payload(self, key: str, payload: str) -> None:
        """Keep a long button payload under ``key`` (see :class:`CallbackCodec`).

        Args:
            key: Short key sent as ``callback_data``.
            payload: The full Rasa payload.
        """
        self._db.execute(
            "INSERT INTO callback_payloads (key, payload, used_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET used_at = excluded.used_at",
            (key, payload, time.time()),
        )

    def get_payload(self, key: str) -> str | None:
        """Return the payload stored under ``key``, or ``None``.

        Args:
            key: ``callback_data`` of a pressed button.

        Returns:
            The payload, or ``None`` when unknown or pruned.
        """
        row = self._db.execute("SELECT payload FROM callback_payloads WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def prune(self, now: float | None = None) -> None:
        """Forget old update ids and polls, all but the newest button payloads, and idle chat mappings.

        Args:
            now: Current time (seconds since the epoch); defaults to the clock.
        """
        now = time.time() if now is None else now
        self._db.execute("DELETE FROM processed_updates WHERE seen_at < ?", (now - UPDATE_RETENTION_S,))
        self._db.execute("DELETE FROM quiz_polls WHERE sent_at < ?", (now - POLL_RETENTION_S,))
        if self.chat_retention_s is not None:  # retention: the mapping is the link back to a person
            self._db.execute("DELETE FROM chats WHERE updated_at < ?", (now - self.chat_retention_s,))
        self._db.execute(
            "DELETE FROM callback_payloads WHERE key NOT IN "
            "(SELECT key FROM callback_payloads ORDER BY used_at DESC LIMIT ?)",
            (MAX_CALLBACK_PAYLOADS,),
        )
