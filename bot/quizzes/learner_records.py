"""Learner records: profiles, due reviews, progress, and the learner's data rights (export, erasure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.quizzes import data_rights
from bot.quizzes.context import QuizContext, mastery_of, reviews_of
from bot.quizzes.mastery import level, score
from bot.quizzes.quiz_sessions import summarise
from bot.quizzes.views import DueLearner, MasteryEntry, Progress
from bot.store import Attempt, Learner, Mastery, QuizSession, ReviewState, get_or_create_learner, session_scope


class LearnerRecords:
    """What the store knows about learners: profile, reviews due, mastery and progress.

    Args:
        ctx: The shared database, bank and clock.
    """

    def __init__(self, ctx: QuizContext) -> None:
        self.ctx = ctx

    def learner(self, channel: str, external_id: str, **profile: Any) -> int:
        """Return the id of the learner ``(channel, external_id)``, creating it if new.

        Args:
            channel: ``"telegram"``, ``"web"``, ...
            external_id: Pseudonymous id (see :func:`bot.pseudonyms.pseudonym`).
            **profile: ``language``, ``role``, ``department``, ``consent`` for a new learner.

        Returns:
            The learner id.
        """
        with session_scope(self.ctx.sessions) as s:
            row = get_or_create_learner(s, channel, external_id, self.ctx.clock(), **profile)
            s.flush()
            return row.id

    def update_profile(self, learner_id: int, **fields: Any) -> None:
        """Set ``language``, ``role``, ``department`` and/or ``consent`` of a learner.

        Raises:
            KeyError: Unknown learner.
            ValueError: Unknown field.
        """
        allowed = {"language", "role", "department", "consent"}
        if set(fields) - allowed:
            raise ValueError(f"unknown profile fields: {sorted(set(fields) - allowed)}")
        with session_scope(self.ctx.sessions) as s:
            row = s.get(Learner, learner_id)
            if row is None:
                raise KeyError(learner_id)
            for key, value in fields.items():
                setattr(row, key, value)
            if fields.get("consent"):
                row.consent_at = self.ctx.clock()

    # ------------------------------------------------------------------ reviews and progress

    def due_items(self, learner_id: int) -> list[str]:
        """Ids of the learner's items due for review now, most overdue first."""
        with session_scope(self.ctx.sessions) as s:
            rows = s.scalars(
                select(ReviewState.item_id)
                .where(ReviewState.learner_id == learner_id, ReviewState.due <= self.ctx.clock())
                .order_by(ReviewState.due)
            )
            return [i for i in rows if i in self.ctx.bank.by_id]

    def learners_due(self, *, consent_only: bool = True, minimum: int = 1) -> list[DueLearner]:
        """Learners with at least ``minimum`` reviews due, for reminder messages.

        Args:
            consent_only: Only learners who agreed to be contacted.
            minimum: Least number of due items.

        Returns:
            :class:`DueLearner` entries, most due first.
        """
        count = func.count(ReviewState.item_id)
        query = (
            select(Learner.id, Learner.channel, Learner.external_id, Learner.language, count)
            .join(ReviewState, ReviewState.learner_id == Learner.id)
            .where(ReviewState.due <= self.ctx.clock(), ReviewState.item_id.in_(list(self.ctx.bank.by_id)))
            .group_by(Learner.id, Learner.channel, Learner.external_id, Learner.language)
            .having(count >= minimum)
            .order_by(count.desc(), Learner.id)
        )
        if consent_only:
            query = query.where(Learner.consent.is_(True))
        with session_scope(self.ctx.sessions) as s:
            return [DueLearner(i, c, e, n, lang) for i, c, e, lang, n in s.execute(query)]

    def progress(self, learner_id: int, *, recent: int = 5) -> Progress:
        """Mastery by competency and module, streak, due items and recent scores.

        Args:
            learner_id: Learner.
            recent: How many recent finished or paused sessions to include.

        Returns:
            A :class:`Progress`.
        """
        now = self.ctx.clock()
        with session_scope(self.ctx.sessions) as s:
            comps = mastery_of(s, learner_id, "competency")
            mods = mastery_of(s, learner_id, "module")
            reviews = reviews_of(s, learner_id)
            in_bank = [r for r in reviews.values() if r.item_id in self.ctx.bank.by_id]
            attempts = s.execute(
                select(Attempt.answered_at, Attempt.correct, Attempt.skipped).where(Attempt.learner_id == learner_id)
            ).all()
            sessions = s.scalars(
                select(QuizSession)
                .where(QuizSession.learner_id == learner_id, QuizSession.status.in_(("finished", "stopped")))
                .order_by(QuizSession.updated_at.desc())
                .limit(recent)
            ).all()
            summaries = tuple(summarise(s, q, self.ctx.bank) for q in sessions)
        answered = [a for a in attempts if not a.skipped]
        upcoming = [r.due for r in in_bank if r.due > now]
        return Progress(
            learner_id=learner_id,
            competencies=tuple(self._entry(m, m.key) for m in comps),
            modules=tuple(self._entry(m, self.ctx.bank.modules.get(m.key, m.key)) for m in mods),
            streak_days=self._streak([a.answered_at for a in answered], now),
            items_due=sum(1 for r in in_bank if r.due <= now),
            next_due=min(upcoming) if upcoming else None,
            items_seen=len(reviews),
            total_answered=len(answered),
            total_correct=sum(1 for a in answered if a.correct),
            recent_sessions=summaries,
        )

    # ------------------------------------------------------------------ data rights

    def export(self, learner_id: int) -> dict[str, Any]:
        """All of one learner's rows as JSON-ready data (``{table: [row, ...]}``).

        Raises:
            KeyError: Unknown learner.
        """
        with session_scope(self.ctx.sessions) as s:
            return data_rights.export_rows(s, learner_id)

    def export_json(self, learner_id: int) -> str:
        """One learner's data as a JSON document (see :meth:`export`)."""
        return data_rights.to_json(self.export(learner_id))

    def export_csv(self, learner_id: int) -> dict[str, str]:
        """One learner's data as CSV texts, one per table: ``{"attempts.csv": "...", ...}``."""
        return data_rights.to_csv(self.export(learner_id))

    def erase(self, learner_id: int) -> dict[str, int]:
        """Delete every row of one learner, in every table.

        Returns:
            Rows deleted per table (``learners`` included); all zero for an unknown learner.
        """
        with session_scope(self.ctx.sessions) as s:
            return data_rights.erase_rows(s, learner_id)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _entry(row: Mastery, title: str) -> MasteryEntry:
        value = score(row)
        return MasteryEntry(row.key, title, value, level(value, row.attempts), row.attempts, row.correct)

    def _streak(self, times: list[datetime], now: datetime) -> int:
        """Consecutive local days with an answer, ending today (or yesterday)."""
        days = {t.astimezone(self.ctx.local_tz).date() for t in times}
        day = now.astimezone(self.ctx.local_tz).date()
        if day not in days:
            day -= timedelta(days=1)  # today's practice may still come
        streak = 0
        while day in days:
            streak += 1
            day -= timedelta(days=1)
        return streak
