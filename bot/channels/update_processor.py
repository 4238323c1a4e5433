"""Concurrency policy for the Telegram bridge: chats in parallel, each chat in order, once, across bridges.

python-telegram-bot hands every update to an update processor. With
``concurrent_updates`` it creates one task per update, in arrival order, and this
processor then:

1. claims the update in the shared store (``INSERT .. ON CONFLICT DO NOTHING`` on
   ``(bot_id, update_id)``) and drops it if it was claimed before, here or by another
   bridge (Telegram redelivers after webhook failures and polling restarts). The claimed
   update waits in the store with its JSON;
2. takes the chat's turn (:class:`bot.channels.chat_turns.ChatTurns`: the process's FIFO
   lock, then the chat's lease in the store, so one bridge at a time works on a chat);
3. handles the chat's waiting updates in ``update_id`` order, its own among them, until
   none is left. So when two bridges behind a balancer get consecutive updates of one chat,
   whichever holds the turn handles both, in order, and the other finds nothing left.

Updates that wait with nobody to take them (their bridge died after claiming them) are
picked up by :meth:`OrderedDedupProcessor.sweep`, run by every bridge in the background.
An update that belongs to no chat is claimed and handled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from inspect import iscoroutine
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.channels.chat_turns import ChatLocks, ChatTurns
from bot.channels.dedup import TelegramStore

__all__ = ["ChatLocks", "ChatTurns", "OrderedDedupProcessor"]
LOGGER = logging.getLogger(__name__)
#: How often each bridge looks for chats whose waiting updates nobody is taking.
SWEEP_S = 2.0


class OrderedDedupProcessor(BaseUpdateProcessor):
    """Update processor: per-chat order, cross-chat concurrency, exactly-once claims, several bridges.

    Args:
        store: The bridge's store (update claims, chat turns).
        bot_id: The bot's numeric id; update ids are unique per bot only.
        turns: Chat turns, shared with other senders to the same chat (outbox, proactive).
        max_concurrent_updates: Upper bound on updates in flight.
    """

    def __init__(
        self,
        store: TelegramStore,
        bot_id: str,
        turns: ChatTurns,
        max_concurrent_updates: int = 256,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._store = store
        self._bot_id = bot_id
        self._turns = turns
        #: Handles an update taken from the store (set by the bridge: ``Application.process_update``
        #: after ``Update.de_json`` with the application's bot).
        self.handle_stored: Callable[[str], Awaitable[None]] | None = None
        self._sweeper: asyncio.Task | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Process ``update`` in its chat's order, unless it was claimed before.

        Args:
            update: The update from python-telegram-bot.
            coroutine: Runs the handlers for it.
        """
        pending = [coroutine]
        try:
            if not isinstance(update, Update):
                await pending.pop()
                return
            chat_id = self._chat_of(update)
            if chat_id is None:
                if self._store.claim_update(self._bot_id, update.update_id):
                    await pending.pop()
                else:
                    LOGGER.info("Skipping update %s: already processed", update.update_id)
                return
            payload = json.dumps(update.to_dict())
            if not self._store.enqueue_update(self._bot_id, update.update_id, chat_id, payload):
                LOGGER.info("Skipping update %s: already processed", update.update_id)
                return
            async with self._turns.hold(chat_id):
                await self._drain(chat_id, update.update_id, pending)
        finally:
            for leftover in pending:  # a duplicate, or handled by another bridge: never awaited on purpose
                if iscoroutine(leftover):
                    leftover.close()

    async def _drain(self, chat_id: int, own_id: int | None = None, own: list[Awaitable[Any]] | None = None) -> None:
        """Handle the chat's waiting updates in order (the caller holds the chat's turn)."""
        while (waiting := self._store.next_waiting(self._bot_id, chat_id)) is not None:
            if not self._store.take_update(self._bot_id, waiting.update_id):
                continue  # taken meanwhile by a bridge whose lease we overran
            if waiting.update_id == own_id and own:
                await own.pop()  # this task's own update: its handlers are ready
            elif self.handle_stored is not None:
                await self.handle_stored(waiting.payload)
            else:
                LOGGER.error("Update %s taken but no handler is set; dropped", waiting.update_id)

    def _chat_of(self, update: Update) -> int | None:
        """The chat an update belongs to; a quiz-poll vote names only its poll (see dedup)."""
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.poll_answer is not None:
            poll = self._store.get_poll(update.poll_answer.poll_id)
            return poll.chat_id if poll is not None else None
        return None

    async def sweep(self, older_than_s: float = SWEEP_S) -> int:
        """Handle updates that wait with no bridge on their chat (their bridge died).

        Args:
            older_than_s: Leave alone updates younger than this (their bridge is about to take them).

        Returns:
            How many chats were taken over.
        """
        taken = 0
        for chat_id in self._store.chats_waiting(self._bot_id, older_than_s):
            async with self._turns.try_hold(chat_id) as held:
                if held:
                    LOGGER.warning("Taking over a chat's waiting updates (their bridge stopped)")
                    await self._drain(chat_id)
                    taken += 1
        return taken

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.sweep()
            except Exception:  # e.g. the database restarts: try again next round
                LOGGER.exception("Sweeping waiting updates failed")

    async def initialize(self) -> None:
        """Start the sweeper of waiting updates; the store is opened by the bridge."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="telegram-sweeper")

    async def shutdown(self) -> None:
        """Stop the sweeper; the store is closed by the bridge."""
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
