"""Concurrency policy for the Telegram bridge: chats in parallel, each chat in order, once.

python-telegram-bot hands every update to an update processor. With
``concurrent_updates`` it creates one task per update, in arrival order, and this
processor then:

1. takes the chat's :class:`asyncio.Lock` before anything else. Taking an uncontended
   asyncio lock does not yield and waiters are served first-in first-out, so updates of
   one chat run in the order Telegram sent them, while other chats proceed concurrently;
2. claims the ``update_id`` in the durable store and drops it if it was seen before
   (Telegram redelivers after webhook failures and polling restarts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from inspect import iscoroutine
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.channels.dedup import TelegramStore

LOGGER = logging.getLogger(__name__)


class ChatLocks:
    """One FIFO lock per chat, created on demand and dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        """Hold the lock of ``chat_id`` for the duration of the ``async with`` block.

        Args:
            chat_id: The Telegram chat id.

        Yields:
            Nothing; the lock is held inside the block.
        """
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if self._users[chat_id] == 0:
                del self._users[chat_id]
                del self._locks[chat_id]

    def __len__(self) -> int:
        return len(self._locks)


class OrderedDedupProcessor(BaseUpdateProcessor):
    """Update processor: per-chat order, cross-chat concurrency, durable de-duplication.

    Args:
        store: The bridge's store (for ``update_id`` claims).
        bot_id: The bot's numeric id; update ids are unique per bot only.
        locks: Per-chat locks, shared with other senders to the same chat (proactive).
        max_concurrent_updates: Upper bound on updates in flight.
    """

    def __init__(
        self,
        store: TelegramStore,
        bot_id: str,
        locks: ChatLocks,
        max_concurrent_updates: int = 256,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._store = store
        self._bot_id = bot_id
        self._locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Process ``update`` in its chat's order, unless it was processed before.

        Args:
            update: The update from python-telegram-bot.
            coroutine: Runs the handlers for it.
        """
        # Nothing may await before ``hold`` takes its place in the chat's queue.
        chat_id = self._chat_of(update)
        if chat_id is None:
            await self._once(update, coroutine)
            return
        async with self._locks.hold(chat_id):
            await self._once(update, coroutine)

    def _chat_of(self, update: object) -> int | None:
        """The chat an update belongs to; a quiz-poll vote names only its poll (see dedup)."""
        if not isinstance(update, Update):
            return None
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.poll_answer is not None:
            poll = self._store.get_poll(update.poll_answer.poll_id)
            return poll.chat_id if poll is not None else None
        return None

    async def _once(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and not self._store.claim_update(self._bot_id, update.update_id):
            LOGGER.info("Skipping update %s: already processed", update.update_id)
            if iscoroutine(coroutine):
                coroutine.close()  # never awaited on purpose; avoid the runtime warning
            return
        await coroutine

    async def initialize(self) -> None:
        """Nothing to set up; the store is opened by the bridge."""

    async def shutdown(self) -> None:
        """Nothing to release; the store is closed by the bridge."""
