"""SQLAlchemy model of review reminders (see :mod:`bot.quizzes.reminders`).

One row per learner who was ever reminded: when the last reminder went out (at most
one a day) and whether it still waits for a web learner's next turn. The row goes with
the learner (``ON DELETE CASCADE``) and is listed in :data:`REMINDER_LEARNER_TABLES`
for export and erasure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime


class ReviewReminder(Base):
    """The latest review reminder of one learner."""

    __tablename__ = "review_reminders"

    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime())  # prepared (pushed or left pending)
    due_count: Mapped[int] = mapped_column(Integer)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)  # waits for the learner's next turn
    delivered_via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # telegram | next_turn
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


#: Learner-owned tables of this feature (export and erasure).
REMINDER_LEARNER_TABLES: tuple[type[ReviewReminder], ...] = (ReviewReminder,)
