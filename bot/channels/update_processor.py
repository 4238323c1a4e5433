"""Concurrency policy for the Telegram bridge: chats in parallel, each chat in order, once, across bridges.

1. **Claim on arrival.** Every update goes through :class:`ClaimingQueue`, python-telegram-bot's
   update queue: its ``put`` claims the update in the shared store (``INSERT .. ON CONFLICT
   DO NOTHING`` on ``(bot_id, update_id)``) before the webhook request is answered (or
   polling confirms the offset), and drops an update claimed before, here or by another
   bridge (Telegram redelivers after webhook failures and polling restarts). A chat's update
   then waits in the store with its JSON. While the store cannot be reached the update is
   not acknowledged: the claim is retried (Telegram times out and redelivers meanwhile).
2. **One turn per chat.** The update processor (with ``concurrent_updates`` one task per
   update, in arrival order) takes the chat's turn (:class:`bot.channels.chat_turns.ChatTurns`:
   the process's FIFO lock, then the chat's lease in the store, so one bridge at a time
   works on a chat) and handles the chat's waiting updates in ``update_id`` order, its own
   among them, until none is left. Telegram sends a chat's next update only once the
   previous one was acknowledged, and a bridge acknowledges only after the claim is stored;
   so when two bridges behind a balancer get consecutive updates of one chat, the earlier
   one is always in the store first, whichever bridge holds the turn handles both in order,
   and the other finds nothing left.

Updates that wait with nobody to take them (their bridge died after claiming them) are
picked up by :meth:`OrderedDedupProcessor.sweep`, run by every bridge in the background.
An update that belongs to no chat is handled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from inspect import iscoroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.channels.bridge_state import BridgeState
from bot.channels.chat_turns import ChatLocks, ChatTurns

__all__ = ["ChatLocks", "ChatTurns", "ClaimingQueue", "OrderedDedupProcessor"]
LOGGER = logging.getLogger(__name__)
#: How often each bridge looks for chats whose waiting updates nobody is taking.
SWEEP_S = 2.0
#: Longest wait between attempts to claim an update while the store is unreachable.
MAX_CLAIM_RETRY_S = 10.0


class OrderedDedupProcessor(BaseUpdateProcessor):
    """Update processor: per-chat order, cross-chat concurrency, exactly-once claims, several bridges.

    Args:
        state: The bridge's state (update claims, chat turns).
        bot_id: The bot's numeric id; update ids are unique per bot only.
        turns: Chat turns, shared with other senders to the same chat (outbox, proactive).
        max_concurrent_updates: Upper bound on updates in flight.
    """

    def __init__(
        self,
        state: BridgeState,
        bot_id: str,
        turns: ChatTurns,
        max_concurrent_updates: int = 256,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._state = state
        self._bot_id = bot_id
        self._turns = turns
        #: Handles an update taken from the store (set by the bridge: ``Application.process_update``
        #: after ``Update.de_json`` with the application's bot).
        self.handle_stored: Callable[[str], Awaitable[None]] | None = None
        self._sweeper: asyncio.Task | None = None
        # Claimed by this process's queue, not yet processed: update id -> its chat (None: no chat).
        self._claimed: dict[int, int | None] = {}

    def claim(self, update: Update) -> bool:
        """Claim ``update`` in the store (called by :class:`ClaimingQueue` on arrival).

        Args:
            update: The update.

        Returns:
            ``True`` if this call claimed it; ``False`` for a duplicate.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The store cannot be reached (the update is not acknowledged).
        """
        chat_id = self._chat_of(update)
        if chat_id is None:
            claimed = self._state.claim_update(self._bot_id, update.update_id)
        else:
            claimed = self._state.enqueue_update(self._bot_id, update.update_id, chat_id,
                                                 json.dumps(update.to_dict()))
        if claimed:
            self._claimed[update.update_id] = chat_id
        else:
            LOGGER.info("Skipping update %s: already processed", update.update_id)
        return claimed

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
            if update.update_id not in self._claimed and not self.claim(update):  # it did not come through the queue
                return
            chat_id = self._claimed.pop(update.update_id)
            if chat_id is None:
                await pending.pop()
                return
            async with self._turns.hold(chat_id):
                await self._drain(chat_id, update.update_id, pending)
        finally:
            for leftover in pending:  # a duplicate, or handled by another bridge: never awaited on purpose
                if iscoroutine(leftover):
                    leftover.close()

    async def _drain(self, chat_id: int, own_id: int | None = None, own: list[Awaitable[Any]] | None = None) -> None:
        """Handle the chat's waiting updates in order (the caller holds the chat's turn)."""
        while (waiting := self._state.next_waiting(self._bot_id, chat_id)) is not None:
            if not self._state.take_update(self._bot_id, waiting.update_id):
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
            poll = self._state.get_poll(update.poll_answer.poll_id)
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
        for chat_id in self._state.chats_waiting(self._bot_id, older_than_s):
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


class ClaimingQueue(asyncio.Queue):
    """python-telegram-bot's update queue, claiming each update as it arrives.

    ``put`` is awaited by the webhook handler before it answers Telegram, and by the poller
    before it confirms the offset; so an acknowledged update is always claimed in the store.

    Args:
        processor: The processor whose :meth:`OrderedDedupProcessor.claim` is used.
    """

    def __init__(self, processor: OrderedDedupProcessor) -> None:
        super().__init__()
        self._processor = processor

    async def put(self, item: object) -> None:
        """Queue ``item``, unless it is an update claimed before (then it is dropped).

        Args:
            item: An update (or python-telegram-bot's stop signal).
        """
        if isinstance(item, Update):
            delay = 0.5
            while True:
                try:
                    claimed = self._processor.claim(item)
                    break
                except SQLAlchemyError as exc:
                    # E.g. PostgreSQL restarting. Never acknowledge an unclaimed update, and keep
                    # the poller alive (an exception here would end python-telegram-bot's polling).
                    LOGGER.warning("Bridge store unreachable (%s); update %s waits, retrying in %.1f s",
                                   type(exc).__name__, item.update_id, delay)
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, MAX_CLAIM_RETRY_S)
            if not claimed:
                return
        await super().put(item)
