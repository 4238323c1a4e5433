"""Per-chat message budget shared by every Telegram bridge, kept in the bridges' store.

:class:`bot.channels.rate_limit.ChatRateLimiter` keeps its token buckets in the process's
memory: with N bridges behind a balancer a flooding chat would get N budgets and N "slow
down" notes. :class:`SharedChatRateLimiter` keeps the same bucket in the ``chat_budgets``
table of :mod:`bot.channels.bridge_tables` (SQLite for one bridge, the shared PostgreSQL for
many), one row per chat, with the same rules: a burst of ``burst`` messages, refilled at
``per_s`` a second, and one warning per over-budget episode.

Each message costs one statement, ``INSERT .. ON CONFLICT (chat_id) DO UPDATE .. RETURNING``,
that refills the bucket, spends a token if there is one and records the verdict. It is
atomic on both databases: PostgreSQL locks the row and re-evaluates the update against the
latest committed version, SQLite runs it under its write lock. Concurrent messages of one
chat, on any bridge, therefore never spend the same token twice, and only one of them sees
the episode's first refusal.

A row is only needed while its bucket is not full: a chat idle for ``burst / per_s``
seconds has a full bucket again, exactly what a missing row means. Such rows are deleted
(:meth:`SharedChatRateLimiter.prune`, run by :meth:`~SharedChatRateLimiter.check` at most
every :data:`PRUNE_EVERY_S`), so the table holds only the chats active in the last few
seconds, however many learners there are.

Time is wall-clock seconds (bridges on several hosts compare them). A bridge whose clock
lags never moves a bucket's time backwards, so skew between hosts costs at most
``skew * per_s`` extra messages, never a negative refill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, delete, literal
from sqlalchemy.dialects import postgresql, sqlite

from bot.channels.bridge_tables import chat_budgets

#: Verdicts stored with a chat's last message: what :meth:`SharedChatRateLimiter.check` returns.
ALLOWED, REFUSED_WARN, REFUSED_QUIET = 0, 1, 2
#: Idle chats' rows are deleted at most this often per limiter.
PRUNE_EVERY_S = 60.0


class SharedChatRateLimiter:
    """Token buckets of Telegram chats in the bridges' store; same interface as ``ChatRateLimiter``.

    Args:
        engine: The bridge store's engine (:func:`bot.channels.bridge_tables.open_bridge_engine`).
        burst: Messages a chat may send at once (at least 1).
        per_s: Refill rate, messages per second (positive).
        clock: Seconds since the epoch (tests move it); every bridge sharing the store
            must use comparable clocks.

    Raises:
        ValueError: ``burst`` below 1 or ``per_s`` not positive (no budget could ever be spent
            or refilled, and idle rows could never be expired).
    """

    def __init__(self, engine: Engine, burst: int = 6, per_s: float = 0.5,
                 clock: Callable[[], float] = time.time) -> None:
        if burst < 1 or per_s <= 0:
            raise ValueError(f"a chat budget needs burst >= 1 and a positive refill rate, got {burst}, {per_s}")
        self.engine = engine
        self.burst = burst
        self.per_s = per_s
        self._clock = clock
        self._dialect: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._pruned_at = float("-inf")

    @property
    def full_after_s(self) -> float:
        """Seconds of silence after which any chat's bucket is full again."""
        return self.burst / self.per_s

    def check(self, chat_id: int) -> tuple[bool, bool]:
        """Spend one message of ``chat_id``'s budget if there is one, for every bridge at once.

        Args:
            chat_id: Telegram chat id.

        Returns:
            ``(allowed, warn)``: whether the message may go to Rasa, and whether the learner
            should now be told to slow down (true once per over-budget episode, across bridges).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The store cannot be reached.
        """
        now = self._clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self.prune(now)
        with self.engine.begin() as conn:
            verdict = conn.execute(self._spend(chat_id, now)).scalar_one()
        return verdict == ALLOWED, verdict == REFUSED_WARN

    def prune(self, now: float | None = None) -> int:
        """Delete the rows of chats idle long enough for their bucket to be full again.

        Args:
            now: Current time (seconds since the epoch); defaults to the clock.

        Returns:
            How many rows were deleted.
        """
        now = self._clock() if now is None else now
        self._pruned_at = now
        with self.engine.begin() as conn:
            result = conn.execute(delete(chat_budgets).where(chat_budgets.c.updated_at <= now - self.full_after_s))
        return max(result.rowcount, 0)

    def _spend(self, chat_id: int, now: float) -> Any:
        """The upsert that refills, spends and returns the verdict (see the module's docstring)."""
        row = chat_budgets.c
        at = literal(now)
        # A lagging clock (another host) must not refill a bucket twice for the same seconds.
        elapsed = case((row.updated_at < at, at - row.updated_at), else_=literal(0.0))
        grown = row.tokens + elapsed * self.per_s
        refilled: ColumnElement[Any] = case((grown > float(self.burst), literal(float(self.burst))), else_=grown)
        has_token = refilled >= 1.0
        statement = self._dialect.insert(chat_budgets).values(
            chat_id=chat_id, tokens=float(self.burst - 1), updated_at=now, verdict=ALLOWED)
        # Every right-hand side reads the row as it was before this update.
        return statement.on_conflict_do_update(
            index_elements=[row.chat_id],
            set_={
                "tokens": case((has_token, refilled - 1.0), else_=refilled),
                "updated_at": case((row.updated_at < at, at), else_=row.updated_at),
                "verdict": case((has_token, ALLOWED), (row.verdict == ALLOWED, REFUSED_WARN), else_=REFUSED_QUIET),
            },
        ).returning(row.verdict)
