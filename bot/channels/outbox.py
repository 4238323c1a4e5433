"""The Telegram bridge's durable outbox: every reply is stored before it is sent.

Telegram answers a bot that sends too fast with 429 and ``retry_after``; a network hiccup
or a bridge restart can also interrupt a reply. python-telegram-bot's ``AIORateLimiter``
retries a few times in-process and then gives up, which used to drop the reply. Now each
message (one piece of a split reply) is first written to the ``outbox`` table of the
bridge's store (:mod:`bot.channels.bridge_tables`, beside the update claims) and removed only
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
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, update
from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.channels.bridge_tables import outbox

LOGGER = logging.getLogger(__name__)
DEFAULT_EXPIRY_S = 24 * 3600.0
# Back-off after an error that carries no retry_after (network trouble, Telegram 5xx).
MAX_BACKOFF_S = 300.0
# How long the background task sleeps when nothing is waiting (it is woken on new waits).
IDLE_WAIT_S = 30.0
# How soon the background task looks again at a due chat whose turn was taken.
BUSY_RETRY_S = 0.5

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
        engine: The bridge store's engine (:class:`bot.channels.bridge_state.BridgeState`).
        expiry_s: How long a message may wait for delivery.
        clock: Wall clock (seconds since the epoch); stored times survive restarts.
    """

    def __init__(self, engine: Engine, expiry_s: float = DEFAULT_EXPIRY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.expiry_s = expiry_s
        self.clock = clock

    def add(self, chat_id: int, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Queue ``messages`` for ``chat_id`` behind what the chat already has waiting.

        Args:
            chat_id: Telegram chat id.
            messages: The messages, in the order they must arrive.

        Returns:
            Their outbox ids.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: A message could not be stored (then none is).
        """
        now = self.clock()
        ids = []
        with self.engine.begin() as conn:  # all pieces of a reply, or none
            for message in messages:
                markup = json.dumps(message.markup.to_dict()) if message.markup is not None else None
                result = conn.execute(insert(outbox).values(
                    chat_id=chat_id, text=message.text, parse_mode=message.parse_mode, markup=markup,
                    created_at=now, expires_at=now + self.expiry_s, next_at=now))
                key = result.inserted_primary_key  # typed Optional; an INSERT of one row always has it
                if key is None:
                    raise RuntimeError("the outbox insert returned no id")
                ids.append(int(key[0]))
        return ids

    def head(self, chat_id: int) -> OutboxItem | None:
        """The oldest message waiting for ``chat_id``, or None."""
        o = outbox.c
        with self.engine.connect() as conn:
            row = conn.execute(select(o.id, o.chat_id, o.text, o.parse_mode, o.markup, o.expires_at, o.next_at,
                                      o.attempts, o.last_error)
                               .where(o.chat_id == chat_id).order_by(o.id).limit(1)).first()
        if row is None:
            return None
        markup = InlineKeyboardMarkup.de_json(json.loads(row[4]), None) if row[4] else None
        return OutboxItem(int(row[0]), int(row[1]), OutgoingMessage(row[2], row[3], markup),
                          float(row[5]), float(row[6]), int(row[7]), row[8])

    def remove(self, item_id: int) -> None:
        """Delete a delivered (or dropped) message."""
        with self.engine.begin() as conn:
            conn.execute(delete(outbox).where(outbox.c.id == item_id))

    def remove_chat(self, chat_id: int, conn: Connection | None = None) -> int:
        """Delete everything waiting for ``chat_id``; return how many messages that was.

        Args:
            chat_id: Telegram chat id.
            conn: A connection inside the caller's transaction (default: its own).
        """
        if conn is None:
            with self.engine.begin() as own:
                return self.remove_chat(chat_id, own)
        return int(conn.execute(delete(outbox).where(outbox.c.chat_id == chat_id)).rowcount or 0)

    def postpone(self, item_id: int, delay_s: float, reason: str) -> None:
        """Record a failed attempt and when to try again.

        Args:
            item_id: Outbox id.
            delay_s: Seconds from now.
            reason: Why it failed (logged and stored; never the message text).
        """
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == item_id).values(
                attempts=outbox.c.attempts + 1, next_at=self.clock() + delay_s, last_error=reason))

    def _heads(self):  # -> Select: the oldest message of each chat
        return select(func.min(outbox.c.id)).group_by(outbox.c.chat_id)

    def due_chats(self) -> list[int]:
        """Chats whose oldest message may be sent (or has expired) now."""
        now = self.clock()
        o = outbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(o.chat_id).where(o.id.in_(self._heads()),
                                                        or_(o.next_at <= now, o.expires_at <= now)).order_by(o.id))
            return [int(row[0]) for row in rows]

    def next_due_in(self) -> float | None:
        """Seconds until some chat's oldest message is due (0 if one is), None if none waits."""
        o = outbox.c
        due = case((o.next_at < o.expires_at, o.next_at), else_=o.expires_at)
        with self.engine.connect() as conn:
            value = conn.execute(select(func.min(due)).where(o.id.in_(self._heads()))).scalar()
        return None if value is None else max(0.0, float(value) - self.clock())

    def pending(self, chat_id: int | None = None) -> int:
        """How many messages wait (for one chat, or in all)."""
        statement = select(func.count()).select_from(outbox)
        if chat_id is not None:
            statement = statement.where(outbox.c.chat_id == chat_id)
        with self.engine.connect() as conn:
            return int(conn.execute(statement).scalar() or 0)


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
        locks: The bridge's chat turns (:class:`bot.channels.chat_turns.ChatTurns`); the
            background task holds a chat's turn while it sends, like update handlers do, and
            skips a chat whose turn is taken.
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
            skipped = False
            for chat_id in self.outbox.due_chats():
                # A chat whose turn some task holds (here or in another bridge) is flushed by
                # that task; it is looked at again on the next round.
                async with self.locks.try_hold(chat_id) as held:
                    if not held:
                        skipped = True
                        continue
                    try:
                        await self.flush(bot, chat_id)
                    except Forbidden:
                        pass  # logged, queue emptied
                    except Exception:  # e.g. the disk is full: keep the task, try again later
                        LOGGER.exception("Outbox: sending failed unexpectedly")
                        await asyncio.sleep(1.0)
            wait = self.outbox.next_due_in()
            if skipped and wait is not None:
                wait = max(wait, BUSY_RETRY_S)  # not a busy loop while another task holds the chat
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
