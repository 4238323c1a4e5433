"""A chat's turn: one bridge task at a time works on a chat, across every bridge process.

Two layers, taken in this order:

1. the process's FIFO :class:`asyncio.Lock` of the chat (:class:`ChatLocks`): tasks of one
   bridge queue for the chat in arrival order without touching the database;
2. the chat's lease in the shared store (``chat_turns``, :meth:`BridgeState.acquire_turn`):
   one bridge process at a time. The holder renews it every ``lease_s / 3`` while it works
   (a Rasa turn can take up to ``RASA_TIMEOUT``) and deletes it when done.

A bridge that crashes or hangs mid-turn stops renewing: its lease runs out after at most
``lease_s`` and the next bridge that wants the chat (a waiting update, the outbox, the
sweeper of waiting updates) takes it over. The update it was handling is not replayed
(update claims are at most once, see :mod:`bot.channels.bridge_state`); the chat's later updates
are. Lease times are wall-clock times of the bridges' hosts, which must keep their clocks
synchronised (NTP) to well within ``lease_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.bridge_state import BridgeState

LOGGER = logging.getLogger(__name__)
#: Default lease on a chat's turn; renewed while held, so it only bounds crash recovery.
LEASE_S = 15.0
#: How often a task waiting for another bridge's turn looks again.
POLL_S = 0.05


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

    def busy(self, chat_id: int) -> bool:
        """Whether some task of this process holds or waits for the chat."""
        return chat_id in self._locks

    def __len__(self) -> int:
        return len(self._locks)


class ChatTurns:
    """The chat's process lock plus its lease in the shared store.

    Args:
        state: The bridge's state (:class:`bot.channels.bridge_state.BridgeState`).
        locks: The process's chat locks.
        lease_s: Lease length; a crashed holder's chats are free again after this long.
        holder: This process's id in the lease table (default: a fresh random id).
    """

    def __init__(self, state: BridgeState, locks: ChatLocks | None = None, lease_s: float = LEASE_S,
                 holder: str | None = None) -> None:
        self.state = state
        self.locks = locks or ChatLocks()
        self.lease_s = lease_s
        self.holder = holder or uuid.uuid4().hex

    @asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        """Wait for the chat's turn and hold it inside the ``async with`` block.

        Args:
            chat_id: The Telegram chat id.

        Yields:
            Nothing; no other task of any bridge holds the chat's turn inside the block.
        """
        async with self.locks.hold(chat_id):
            while not self.state.acquire_turn(chat_id, self.holder, self.lease_s):
                await asyncio.sleep(POLL_S)
            async with self._leased(chat_id):
                yield

    @asynccontextmanager
    async def try_hold(self, chat_id: int) -> AsyncIterator[bool]:
        """Hold the chat's turn only if it is free now (the outbox's background task).

        Args:
            chat_id: The Telegram chat id.

        Yields:
            Whether the turn is held inside the block.
        """
        if self.locks.busy(chat_id):
            yield False  # this process is on the chat: it flushes the chat itself
            return
        async with self.locks.hold(chat_id):  # free: taken without waiting
            if not self.state.acquire_turn(chat_id, self.holder, self.lease_s):
                yield False
                return
            async with self._leased(chat_id):
                yield True

    @asynccontextmanager
    async def _leased(self, chat_id: int) -> AsyncIterator[None]:
        renewer = asyncio.get_running_loop().create_task(self._renew(chat_id), name=f"turn-lease-{chat_id}")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                self.state.release_turn(chat_id, self.holder)
            except Exception:  # the database is down: the lease runs out on its own
                LOGGER.exception("Could not release a chat's turn; it frees itself in %.0f s", self.lease_s)

    async def _renew(self, chat_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not self.state.renew_turn(chat_id, self.holder, self.lease_s):
                    # Only after a stall longer than the lease (event loop blocked, database unreachable).
                    LOGGER.error("Lost a chat's turn after a stall of over %.0f s; another bridge may take it",
                                 self.lease_s)
                    return
            except Exception:  # keep trying: the lease lasts a while yet
                LOGGER.exception("Could not renew a chat's turn")
