"""The Telegram bridge's durable outbox: every reply is stored before it is sent.

Telegram answers a bot that sends too fast with 429 and ``retry_after``; a network hiccup
or a bridge restart can also interrupt a reply. python-telegram-bot's ``AIORateLimiter``
retries a few times in-process and then gives up, which used to drop the reply. Now each
message (one piece of a split reply) is first written to the ``outbox`` table of the
bridge's SQLite store (``telegram.db``, beside the de-duplication state) and removed only
once Telegram accepted it. :class:`OutboxSender` sends a chat's messages strictly in
order: when the oldest one must wait (``retry_after``, back-off after a network error),
the newer ones wait behind it, and a background task resumes at the due time, also after
a restart. A message still undelivered ``expiry_s`` after it was queued (default 24 h,
``TELEGRAM_OUTBOX_EXPIRY_HOURS``) is dropped; so is everything queued for a learner who
blocked the bot. Each retry and drop is logged with its reason and the message's outbox
id, never its text.

Delivery is at least once: if the bridge dies after Telegram accepted a message but
before the row is deleted, or a request times out after Telegram received it, the
message is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

LOGGER = logging.getLogger(__name__)
DEFAULT_EXPIRY_S = 24 * 3600.0
# Back-off after an error that carries no retry_after (network trouble, Telegram 5xx).
MAX_BACKOFF_S = 300.0
# How long the background task sleeps when nothing is waiting (it is woken on new waits).
IDLE_WAIT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    parse_mode TEXT,
    markup TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_chat ON outbox (chat_id, id);
"""


@dataclass(frozen=True)
class OutgoingMessage:
    """One Telegram message to send.

    Attributes:
        text: The message text (at most Telegram's 4096 characters).
        parse_mode: ``"HTML"`` or None for plain text.
        markup: An inline keyboard for the message, or None.
    """

    text: str
    parse_mode: str | None = None
    markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A stored message: :class:`OutgoingMessage` plus its delivery state."""

    id: int
    chat_id: int
    message: OutgoingMessage
    expires_at: float
    next_at: float
    attempts: int
    last_error: str | None


class Outbox:
    """The ``outbox`` table: queued messages per chat, oldest first.

    Args:
        db: The bridge store's connection (autocommit, see :class:`bot.channels.dedup.TelegramStore`).
        expiry_s: How long a message may wait for delivery.
        clock: Wall clock (seconds since the epoch); stored times survive restarts.
    """

    def __init__(self, db: sqlite3.Connection, expiry_s: float = DEFAULT_EXPIRY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.expiry_s = expiry_s
        self.clock = clock
        db.executescript(SCHEMA)

    def add(self, chat_id: int, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Queue ``messages`` for ``chat_id`` behind what the chat already has waiting.

        Args:
            chat_id: Telegram chat id.
            messages: The messages, in the order they must arrive.

        Returns:
            Their outbox ids.
        """
        now = self.clock()
        ids = []
        self._db.execute("BEGIN IMMEDIATE")  # all pieces of a reply, or none
        try:
            for message in messages:
                markup = json.dumps(message.markup.to_dict()) if message.markup is not None else None
                cursor = self._db.execute(
                    "INSERT INTO outbox (chat_id, text, parse_mode, markup, created_at, expires_at, next_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (chat_id, message.text, message.parse_mode, markup, now, now + self.expiry_s, now),
                )
                ids.append(cast(int, cursor.lastrowid))  # typeshed: None before any INSERT; set by this one
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return ids

    def head(self, chat_id: int) -> OutboxItem | None:
        """The oldest message waiting for ``chat_id``, or None."""
        row = self._db.execute(
            "SELECT id, chat_id, text, parse_mode, markup, expires_at, next_at, attempts, last_error "
            "FROM outbox WHERE chat_id = ? ORDER BY id LIMIT 1",
            (chat_id,),
        ).fetchone()
        if row is None:
            return None
        markup = InlineKeyboardMarkup.de_json(json.loads(row[4]), None) if row[4] else None
        return OutboxItem(int(row[0]), int(row[1]), OutgoingMessage(row[2], row[3], markup),
                          float(row[5]), float(row[6]), int(row[7]), row[8])

    def remove(self, item_id: int) -> None:
        """Delete a delivered (or dropped) message."""
        self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def remove_chat(self, chat_id: int) -> int:
        """Delete everything waiting for ``chat_id``; return how many messages that was."""
        return self._db.execute("DELETE FROM outbox WHERE chat_id = ?", (chat_id,)).rowcount

    def postpone(self, item_id: int, delay_s: float, reason: str) -> None:
        """Record a failed attempt and when to try again.

        Args:
            item_id: Outbox id.
            delay_s: Seconds from now.
            reason: Why it failed (logged and stored; never the message text).
        """
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
            (self.clock() + delay_s, reason, item_id),
        )

    def due_chats(self) -> list[int]:
        """Chats whose oldest message may be sent (or has expired) now."""
        rows = self._db.execute(
            "SELECT chat_id FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox GROUP BY chat_id) "
            "AND (next_at <= ?1 OR expires_at <= ?1) ORDER BY id",
            (self.clock(),),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def next_due_in(self) -> float | None:
        """Seconds until some chat's oldest message is due (0 if one is), None if none waits."""
        row = self._db.execute(
            "SELECT MIN(MIN(next_at, expires_at)) FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox GROUP BY chat_id)"
        ).fetchone()
        return None if row is None or row[0] is None else max(0.0, float(row[0]) - self.clock())

    def pending(self, chat_id: int | None = None) -> int:
        """How many messages wait (for one chat, or in all)."""
        if chat_id is None:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE chat_id = ?", (chat_id,)).fetchone()[0])


def retry_after_s(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds (``retry_after`` is an int or a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class OutboxSender:
    """Sends the outbox: in order per chat, now when possible, later when Telegram says so.

    Args:
        outbox: The queue.
        locks: The bridge's per-chat locks (:class:`bot.channels.update_processor.ChatLocks`);
            the background task holds a chat's lock while it sends, like update handlers do.
    """

    def __init__(self, outbox: Outbox, locks: Any) -> None:
        self.outbox = outbox
        self.locks = locks
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def send(self, bot: Any, chat_id: int, messages: Sequence[OutgoingMessage]) -> list[Message]:
        """Queue ``messages`` and send what the chat's queue allows now (hold the chat's lock).

        Args:
            bot: The application's bot.
            chat_id: Telegram chat id.
            messages: The messages, in order.

        Returns:
            The messages Telegram accepted now (earlier queued ones included); the rest wait.

        Raises:
            telegram.error.Forbidden: The learner blocked the bot (the chat's queue is emptied).
        """
        self.outbox.add(chat_id, messages)
        return await self.flush(bot, chat_id)

    async def flush(self, bot: Any, chat_id: int) -> list[Message]:
        """Send ``chat_id``'s due messages in order, stopping at the first that must wait.

        Args:
            bot: The application's bot.
            chat_id: Telegram chat id (the caller holds its lock).

        Returns:
            The messages Telegram accepted.

        Raises:
            telegram.error.Forbidden: The learner blocked the bot (the chat's queue is emptied).
        """
        sent: list[Message] = []
        while (item := self.outbox.head(chat_id)) is not None:
            now = self.outbox.clock()
            if item.expires_at <= now:
                LOGGER.warning("Outbox: message %d expired undelivered after %d attempts (last error: %s); dropped",
                               item.id, item.attempts, item.last_error)
                self.outbox.remove(item.id)
                continue
            if item.next_at > now:
                break  # the oldest waits, so the newer ones do too
            try:
                message = await self._send_once(bot, item)
            except RetryAfter as exc:
                self._postpone(item, retry_after_s(exc), f"429 retry_after={retry_after_s(exc):g}s")
                break
            except Forbidden:
                dropped = self.outbox.remove_chat(chat_id)
                LOGGER.warning("Outbox: the learner blocked the bot; %d queued message(s) dropped", dropped)
                raise
            except (BadRequest, ChatMigrated, InvalidToken) as exc:
                # Telegram will never accept this message as it is: retrying cannot help.
                LOGGER.error("Outbox: Telegram refused message %d (%s); dropped", item.id, type(exc).__name__)
                self.outbox.remove(item.id)
                continue
            except TelegramError as exc:  # network trouble, timeouts, Telegram's 5xx
                self._postpone(item, min(MAX_BACKOFF_S, 2.0 ** item.attempts), type(exc).__name__)
                break
            self.outbox.remove(item.id)
            sent.append(message)
        return sent

    def _postpone(self, item: OutboxItem, delay_s: float, reason: str) -> None:
        LOGGER.warning("Outbox: message %d not delivered (%s), attempt %d; retrying in %.0f s",
                       item.id, reason, item.attempts + 1, delay_s)
        self.outbox.postpone(item.id, delay_s, reason)
        self._wake.set()  # the background task recomputes when to wake up

    @staticmethod
    async def _send_once(bot: Any, item: OutboxItem) -> Message:
        message = item.message
        try:
            return await bot.send_message(item.chat_id, message.text, parse_mode=message.parse_mode,
                                          reply_markup=message.markup)
        except BadRequest as exc:
            if message.parse_mode is None or "parse" not in str(exc).lower():
                raise
            # Should not happen (we escape everything), but never lose a reply over markup.
            LOGGER.error("Outbox: Telegram rejected the markup of message %d; sending plain text", item.id)
            return await bot.send_message(item.chat_id, message.text, reply_markup=message.markup)

    async def run(self, bot: Any) -> None:
        """Send waiting messages as they fall due, until cancelled (see :meth:`start`)."""
        while True:
            self._wake.clear()
            for chat_id in self.outbox.due_chats():
                async with self.locks.hold(chat_id):
                    try:
                        await self.flush(bot, chat_id)
                    except Forbidden:
                        pass  # logged, queue emptied
                    except Exception:  # e.g. the disk is full: keep the task, try again later
                        LOGGER.exception("Outbox: sending failed unexpectedly")
                        await asyncio.sleep(1.0)
            wait = self.outbox.next_due_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_WAIT_S if wait is None else min(wait, IDLE_WAIT_S))

    def start(self, bot: Any) -> None:
        """Start the background task (messages left by a previous run are sent first)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(bot), name="telegram-outbox")

    async def stop(self) -> None:
        """Stop the background task; what is still queued stays in the store for the next run."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
