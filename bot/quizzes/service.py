"""The :class:`Quizzes` facade: quiz sessions and learner records over one database and bank.

The work is done by :class:`~bot.quizzes.quiz_sessions.QuizSessions` (quizzes, reviews,
answers) and :class:`~bot.quizzes.learner_records.LearnerRecords` (profiles, progress,
export and erasure); :class:`Quizzes` builds both on one shared
:class:`~bot.quizzes.context.QuizContext` and keeps the calls the action server,
plans, privacy and the services module make in one place.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.quizzes.banks import Problem, QuizBank, QuizItem
from bot.quizzes.context import IST, QuizContext, utcnow
from bot.quizzes.learner_records import LearnerRecords
from bot.quizzes.quiz_sessions import NoActiveQuizError, NoQuestionsError, QuizSessions
from bot.quizzes.scheduler import ReviewScheduler
from bot.quizzes.views import AnswerOutcome, DueLearner, Progress, Question, SessionSummary
from bot.store import make_engine, migrate, session_factory

__all__ = ["IST", "NoActiveQuizError", "NoQuestionsError", "Quizzes"]


class Quizzes:
    """Quizzes, spaced review, mastery and progress for learners, backed by the store.

    All state lives in the database, so any number of action-server replicas can
    serve the same learner and a restart loses nothing.

    Args:
        database: Database URL or engine.
        bank: The quiz bank.
        scheduler: Review scheduler (default: FSRS with default settings).
        clock: Returns the current aware UTC time (tests pass a fake clock).
        seed: Seed for question shuffling (None: random).
        auto_migrate: Apply migrations on construction.
        local_tz: Time zone whose calendar days count for streaks.

    Attributes:
        quiz_sessions: Quiz and review sessions.
        learners: Learner profiles, progress and data rights.
    """

    def __init__(
        self,
        database: str | Engine,
        bank: QuizBank,
        *,
        scheduler: ReviewScheduler | None = None,
        clock: Callable[[], datetime] = utcnow,
        seed: int | None = None,
        auto_migrate: bool = True,
        local_tz: timezone = IST,
    ) -> None:
        engine = make_engine(database) if isinstance(database, str) else database
        if auto_migrate:
            migrate(engine)
        self.ctx = QuizContext(engine, session_factory(engine), bank, scheduler or ReviewScheduler(), clock,
                                   random.Random(seed), local_tz)
        self.quiz_sessions = QuizSessions(self.ctx)
        self.learners = LearnerRecords(self.ctx)

    @classmethod
    def from_settings(cls, settings: Any = None, **kwargs: Any) -> tuple[Quizzes, list[Problem]]:
        """Build from :func:`bot.config.load_settings` (``DATABASE_URL``, ``<kb>/quizzes``).

        Args:
            settings: A ``Settings``; loaded from the environment when None.
            **kwargs: Passed to the constructor.

        Returns:
            ``(quizzes, bank_problems)``.
        """
        if settings is None:
            from bot.config import load_settings

            settings = load_settings()
        bank, problems = QuizBank.load(Path(settings.kb_dir) / "quizzes", base=settings.kb_dir)
        return cls(settings.database_url, bank, **kwargs), problems

    # ------------------------------------------------------------------ shared state

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self.ctx.engine

    @property
    def _sessions(self) -> sessionmaker[Session]:
        # Used by privacy and plans to share the learner store's session factory.
        return self.ctx.sessions

    @property
    def bank(self) -> QuizBank:
        """The quiz bank (assign a new one to reload; both halves see it)."""
        return self.ctx.bank

    @bank.setter
    def bank(self, bank: QuizBank) -> None:
        self.ctx.bank = bank

    def add_items(self, items: list[QuizItem]) -> None:
        """Serve these items too (drafted from a passage); ids the bank has keep the bank's item.

        Args:
            items: Items to add to the bank in memory.
        """
        self.ctx.bank = self.ctx.bank.with_items(items)

    @property
    def scheduler(self) -> ReviewScheduler:
        """The review scheduler."""
        return self.ctx.scheduler

    @property
    def clock(self) -> Callable[[], datetime]:
        """Returns the current aware UTC time."""
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.ctx.clock = clock

    @property
    def local_tz(self) -> timezone:
        """Time zone whose calendar days count for streaks."""
        return self.ctx.local_tz

    # ------------------------------------------------------------------ learners (see LearnerRecords)

    def learner(self, channel: str, external_id: str, **profile: Any) -> int:
        """See :meth:`LearnerRecords.learner`."""
        return self.learners.learner(channel, external_id, **profile)

    def update_profile(self, learner_id: int, **fields: Any) -> None:
        """See :meth:`LearnerRecords.update_profile`."""
        self.learners.update_profile(learner_id, **fields)

    def due_items(self, learner_id: int) -> list[str]:
        """See :meth:`LearnerRecords.due_items`."""
        return self.learners.due_items(learner_id)

    def learners_due(self, *, consent_only: bool = True, minimum: int = 1) -> list[DueLearner]:
        """See :meth:`LearnerRecords.learners_due`."""
        return self.learners.learners_due(consent_only=consent_only, minimum=minimum)

    def progress(self, learner_id: int, *, recent: int = 5) -> Progress:
        """See :meth:`LearnerRecords.progress`."""
        return self.learners.progress(learner_id, recent=recent)

    def export(self, learner_id: int) -> dict[str, Any]:
        """See :meth:`LearnerRecords.export`."""
        return self.learners.export(learner_id)

    def export_json(self, learner_id: int) -> str:
        """See :meth:`LearnerRecords.export_json`."""
        return self.learners.export_json(learner_id)

    def export_csv(self, learner_id: int) -> dict[str, str]:
        """See :meth:`LearnerRecords.export_csv`."""
        return self.learners.export_csv(learner_id)

    def erase(self, learner_id: int) -> dict[str, int]:
        """See :meth:`LearnerRecords.erase`."""
        return self.learners.erase(learner_id)

    # ------------------------------------------------------------------ quizzes (see QuizSessions)

    def start_quiz(self, learner_id: int, *, topic: str | None = None, module: str | None = None,
                   documents: list[str] | None = None, anchor: str | None = None, n: int = 5,
                   language: str | None = None) -> Question:
        """See :meth:`QuizSessions.start_quiz`."""
        return self.quiz_sessions.start_quiz(learner_id, topic=topic, module=module, documents=documents, anchor=anchor,
                                       n=n, language=language)

    def start_review(self, learner_id: int, *, n: int = 5, topic: str | None = None) -> Question:
        """See :meth:`QuizSessions.start_review`."""
        return self.quiz_sessions.start_review(learner_id, n=n, topic=topic)

    def current_question(self, learner_id: int) -> Question | None:
        """See :meth:`QuizSessions.current_question`."""
        return self.quiz_sessions.current_question(learner_id)

    def answer(self, learner_id: int, response: str | list[str] | bool, *, item_id: str | None = None) -> AnswerOutcome:
        """See :meth:`QuizSessions.answer`."""
        return self.quiz_sessions.answer(learner_id, response, item_id=item_id)

    def skip(self, learner_id: int, *, item_id: str | None = None) -> AnswerOutcome:
        """See :meth:`QuizSessions.skip`."""
        return self.quiz_sessions.skip(learner_id, item_id=item_id)

    def stop(self, learner_id: int) -> SessionSummary | None:
        """See :meth:`QuizSessions.stop`."""
        return self.quiz_sessions.stop(learner_id)

    def resume(self, learner_id: int) -> Question | None:
        """See :meth:`QuizSessions.resume`."""
        return self.quiz_sessions.resume(learner_id)

    def summary(self, session_id: str) -> SessionSummary:
        """See :meth:`QuizSessions.summary`."""
        return self.quiz_sessions.summary(session_id)
