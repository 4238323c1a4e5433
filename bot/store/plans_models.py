"""SQLAlchemy models of learning plans: the onboarding track of new recruits.

Rows carry ``learner_id`` with ``ON DELETE CASCADE`` (SQLite runs with foreign keys on,
see :mod:`bot.store.engine`), and :data:`PLANS_LEARNER_TABLES` lists them for export
and erasure alongside :data:`bot.store.models.LEARNER_TABLES`. The learner's role,
department and language live on :class:`bot.store.models.Learner` itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime


class OnboardingTrack(Base):
    """One learner's onboarding: which track, where they are, when lessons go out."""

    __tablename__ = "onboarding_tracks"
    __table_args__ = (Index("ix_onboarding_tracks_status_due", "status", "next_due_at"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    track: Mapped[str] = mapped_column(String(64))  # role id with an onboarding section
    status: Mapped[str] = mapped_column(String(16))  # active | paused | stopped | completed
    total_days: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer, default=0)  # lessons prepared so far
    send_time: Mapped[str] = mapped_column(String(5))  # "HH:MM" in the learner's local time (IST)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OnboardingLesson(Base):
    """One day's micro-lesson: what was sent, how, and whether its check was answered.

    A lesson not yet delivered is the learner's pending message: Telegram gets it pushed,
    the web widget at the learner's next turn.
    """

    __tablename__ = "onboarding_lessons"
    __table_args__ = (UniqueConstraint("learner_id", "day", name="uq_onboarding_lessons_day"),
                      Index("ix_onboarding_lessons_pending", "learner_id", "delivered_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    day: Mapped[int] = mapped_column(Integer)
    module: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(255))
    anchor: Mapped[str] = mapped_column(String(255))
    item_id: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the check question
    quiz_session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # telegram | chat | next_turn
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    correct: Mapped[bool] = mapped_column(Boolean, default=False)


#: Learner-owned tables of this feature, children first (the order erasure deletes in).
PLANS_LEARNER_TABLES: tuple[type[OnboardingLesson] | type[OnboardingTrack], ...] = (OnboardingLesson, OnboardingTrack)
