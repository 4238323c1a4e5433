"""What the quiz services share: the database, the quiz bank, the scheduler and the clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.quizzes.banks import QuizBank
from bot.quizzes.scheduler import ReviewScheduler
from bot.store import Mastery, ReviewState

#: India has no daylight saving: streaks count calendar days in IST by default.
IST = timezone(timedelta(hours=5, minutes=30))


def utcnow() -> datetime:
    """The current aware UTC time (the default clock)."""
    return datetime.now(UTC)


@dataclass
class QuizContext:
    """State shared by :class:`~bot.quizzes.quiz_sessions.QuizSessions` and
    :class:`~bot.quizzes.learner_records.LearnerRecords`.

    One object, so that swapping the bank (a reload) or the clock (tests) reaches both.

    Attributes:
        engine: The database engine.
        sessions: Session factory bound to ``engine``.
        bank: The quiz bank.
        scheduler: Review scheduler.
        clock: Returns the current aware UTC time.
        rng: Random source for question shuffling.
        local_tz: Time zone whose calendar days count for streaks.
    """

    engine: Engine
    sessions: sessionmaker[Session]
    bank: QuizBank
    scheduler: ReviewScheduler
    clock: Callable[[], datetime]
    rng: random.Random
    local_tz: timezone


def reviews_of(s: Session, learner_id: int) -> dict[str, ReviewState]:
    """The learner's review states by item id."""
    rows = s.scalars(select(ReviewState).where(ReviewState.learner_id == learner_id))
    return {r.item_id: r for r in rows}


def mastery_of(s: Session, learner_id: int, kind: str) -> list[Mastery]:
    """The learner's mastery rows of one kind (``competency`` or ``module``), by key."""
    query = select(Mastery).where(Mastery.learner_id == learner_id, Mastery.kind == kind).order_by(Mastery.key)
    return list(s.scalars(query))
