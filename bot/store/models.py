"""SQLAlchemy 2 models for learner data.

Every row that belongs to a learner carries ``learner_id`` directly (not only through
a parent row) so that export and erasure are one ``WHERE learner_id = ?`` per table.
All timestamps are timezone-aware UTC (see :class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always hands back aware UTC datetimes.

    SQLite stores no offset and returns naive values; PostgreSQL ``timestamptz`` returns
    aware ones. Normalising here keeps comparisons in Python consistent on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse naive datetimes: every time the store keeps is aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime passed to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them without an offset so that
        # ordering and range filters work lexically.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """The stored time as an aware UTC datetime (SQLite hands back naive ones)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of all learner-data tables."""


class Learner(Base):
    """One learner on one channel, known only by a pseudonymous id."""

    __tablename__ = "learners"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_learners_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    role: Mapped[str | None] = mapped_column(String(128), nullable=True)
    department: Mapped[str | None] = mapped_column(String(128), nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QuizSession(Base):
    """A quiz or review run: the chosen items and where the learner is in them."""

    __tablename__ = "quiz_sessions"
    __table_args__ = (Index("ix_quiz_sessions_learner_status", "learner_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # quiz | review
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    item_ids: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # active | stopped | finished
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Attempt(Base):
    """One answer (or skip) to one item in one session.

    The unique key makes a retried write a no-op instead of a second answer.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("learner_id", "session_id", "item_id", "attempt_no", name="uq_attempts_key"),
        Index("ix_attempts_learner_answered", "learner_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("quiz_sessions.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(128))
    attempt_no: Mapped[int] = mapped_column(Integer)
    module: Mapped[str] = mapped_column(String(128))
    competencies: Mapped[list[str]] = mapped_column(JSON)
    response: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool] = mapped_column(Boolean)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewState(Base):
    """Spaced-review memory state of one item for one learner (FSRS card fields)."""

    __tablename__ = "review_states"
    __table_args__ = (Index("ix_review_states_due", "due"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    module: Mapped[str] = mapped_column(String(128))
    state: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stability: Mapped[float | None] = mapped_column(Float, nullable=True)
    difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    due: Mapped[datetime] = mapped_column(UTCDateTime())
    last_review: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)


class Mastery(Base):
    """Exponentially weighted recent correctness for one competency or module."""

    __tablename__ = "mastery"

    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # competency | module
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    weighted_correct: Mapped[float] = mapped_column(Float, default=0.0)
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: Tables holding a learner's rows, children first (the order erasure deletes in).
LearnerTable = type[Attempt] | type[ReviewState] | type[Mastery] | type[QuizSession]
LEARNER_TABLES: tuple[LearnerTable, ...] = (Attempt, ReviewState, Mastery, QuizSession)
