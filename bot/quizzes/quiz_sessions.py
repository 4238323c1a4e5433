"""Quiz and review sessions: start, answer, skip, pause, resume and score them.

All state lives in the database, so any number of action-server replicas can serve the
same learner and a restart loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.quizzes.answers import check_answer
from bot.quizzes.banks import QuizBank, QuizItem
from bot.quizzes.context import QuizContext, mastery_of, reviews_of
from bot.quizzes.mastery import update_mastery
from bot.quizzes.quiz import choose_in_language
from bot.quizzes.views import AnswerOutcome, CompetencyScore, Question, SessionSummary
from bot.store import Attempt, Learner, QuizSession, ReviewState, insert_attempt_once, session_scope


class NoQuestionsError(LookupError):
    """No quiz items match the request (or, for a review, none are due).

    Attributes:
        next_due: For reviews, when the next item falls due (None if none is scheduled).
    """

    def __init__(self, message: str, next_due: datetime | None = None) -> None:
        super().__init__(message)
        self.next_due = next_due


class NoActiveQuizError(LookupError):
    """The learner has no quiz in progress."""


class QuizSessions:
    """Quizzes and spaced-review sessions of learners, backed by the store.

    Args:
        ctx: The shared database, bank, scheduler and clock.
    """

    def __init__(self, ctx: QuizContext) -> None:
        self.ctx = ctx

    def start_quiz(
        self,
        learner_id: int,
        *,
        topic: str | None = None,
        module: str | None = None,
        documents: list[str] | None = None,
        anchor: str | None = None,
        n: int = 5,
        language: str | None = None,
    ) -> Question:
        """Start a quiz and return its first question (any quiz in progress is paused).

        Args:
            learner_id: Learner.
            topic: Module id, title word, competency or keyword (``"RTI"``).
            module: Exact module id.
            documents: Source documents (KB-relative paths) for "quiz me on this".
            anchor: Section of those documents to ask about first.
            n: Number of questions.
            language: The learner's language: items written in it come first, others
                only fill up (None: any language).

        Returns:
            The first :class:`Question`.

        Raises:
            NoQuestionsError: Nothing in the bank matches.
        """
        if documents:
            candidates = self.ctx.bank.for_documents(documents, anchor)
        elif module:
            candidates = self.ctx.bank.for_module(module)
        elif topic:
            candidates = self.ctx.bank.for_topic(topic)
        else:
            candidates = list(self.ctx.bank.items)
        if not candidates:
            raise NoQuestionsError("no quiz questions match this request")
        scope = {"topic": topic, "module": module, "documents": documents or [], "anchor": anchor}
        now = self.ctx.clock()
        with session_scope(self.ctx.sessions) as s:
            reviews = reviews_of(s, learner_id)
            mastery = {m.key: m for m in mastery_of(s, learner_id, "competency")}
            chosen = choose_in_language(candidates, language, reviews, mastery, n, now, self.ctx.rng)
            if documents and anchor:
                # "Quiz me on this": the section just read goes first, whatever is due.
                chosen.sort(key=lambda i: 0 if i.source_anchor.casefold() == anchor.casefold() else 1)
            return self._open(s, learner_id, "quiz", scope, chosen, now)

    def start_review(self, learner_id: int, *, n: int = 5, topic: str | None = None) -> Question:
        """Start a review of the learner's due items (most overdue first).

        Args:
            learner_id: Learner.
            n: Maximum number of items.
            topic: Optionally limit to a module/topic (as in :meth:`start_quiz`).

        Returns:
            The first :class:`Question`.

        Raises:
            NoQuestionsError: Nothing is due; ``next_due`` says when something will be.
        """
        now = self.ctx.clock()
        scope_ids = {i.id for i in self.ctx.bank.for_topic(topic)} if topic else set(self.ctx.bank.by_id)
        with session_scope(self.ctx.sessions) as s:
            rows = [
                r
                for r in s.scalars(
                    select(ReviewState).where(ReviewState.learner_id == learner_id).order_by(ReviewState.due)
                )
                if r.item_id in scope_ids
            ]
            due = [self.ctx.bank.by_id[r.item_id] for r in rows if r.due <= now][: max(0, n)]
            if not due:
                upcoming = [r.due for r in rows if r.due > now]
                raise NoQuestionsError("no reviews are due", min(upcoming) if upcoming else None)
            return self._open(s, learner_id, "review", {"topic": topic}, due, now)

    def start_items(self, learner_id: int, items: list[QuizItem], scope: dict[str, Any], *,
                    now: datetime | None = None) -> Question:
        """Start a quiz on exactly these bank items, in this order (any quiz in progress is paused).

        Used for a one-question quiz on a lesson's section; answers are checked, scheduled
        and counted toward mastery like those of :meth:`start_quiz`.

        Args:
            learner_id: Learner.
            items: Items of the current bank (at least one).
            scope: What the quiz is about (stored with the session).
            now: When it starts (default: the clock).

        Returns:
            The first :class:`Question`.

        Raises:
            KeyError: Unknown learner.
            ValueError: No items.
        """
        if not items:
            raise ValueError("a quiz needs at least one item")
        with session_scope(self.ctx.sessions) as s:
            return self._open(s, learner_id, "quiz", scope, list(items), now or self.ctx.clock())

    def current_question(self, learner_id: int) -> Question | None:
        """The question waiting for an answer in the learner's active session, if any."""
        with session_scope(self.ctx.sessions) as s:
            quiz = self._active(s, learner_id)
            return self._question(quiz) if quiz else None

    def answer(self, learner_id: int, response: str | list[str] | bool, *, item_id: str | None = None) -> AnswerOutcome:
        """Check and record an answer to the current question, and move on.

        Idempotent: pass ``item_id`` (the question the learner saw, e.g. from a slot);
        a retried call for an already answered question returns the recorded result
        with ``duplicate=True`` and counts nothing twice.

        Args:
            learner_id: Learner.
            response: The reply (letter, option text, free text, list, or bool).
            item_id: The question being answered (recommended).

        Returns:
            An :class:`AnswerOutcome` (with the next question or the final summary).

        Raises:
            NoActiveQuizError: No quiz is in progress and ``item_id`` was never answered.
        """
        return self._respond(learner_id, response, item_id=item_id, skip=False)

    def skip(self, learner_id: int, *, item_id: str | None = None) -> AnswerOutcome:
        """Skip the current question (recorded as not right; it comes up for review soon).

        Raises:
            NoActiveQuizError: No quiz is in progress.
        """
        return self._respond(learner_id, "", item_id=item_id, skip=True)

    def stop(self, learner_id: int) -> SessionSummary | None:
        """Pause the active quiz so it can be resumed later.

        Returns:
            The session's summary so far, or None if no quiz was in progress.
        """
        with session_scope(self.ctx.sessions) as s:
            quiz = self._active(s, learner_id)
            if quiz is None:
                return None
            quiz.status, quiz.updated_at = "stopped", self.ctx.clock()
            return self._summary(s, quiz)

    def resume(self, learner_id: int) -> Question | None:
        """Continue the active quiz, or the most recently paused one.

        Returns:
            The question to answer next, or None if there is nothing to resume.
        """
        with session_scope(self.ctx.sessions) as s:
            quiz = self._active(s, learner_id)
            if quiz is None:
                quiz = s.scalars(
                    select(QuizSession)
                    .where(QuizSession.learner_id == learner_id, QuizSession.status == "stopped")
                    .order_by(QuizSession.updated_at.desc())
                    .limit(1)
                ).first()
                if quiz is None:
                    return None
                quiz.status, quiz.updated_at = "active", self.ctx.clock()
            question = self._question(quiz)
            if question is None:  # every remaining item left the bank
                self._finish(quiz, self.ctx.clock())
            return question

    def summary(self, session_id: str) -> SessionSummary:
        """Score of one session (so far).

        Raises:
            KeyError: Unknown session.
        """
        with session_scope(self.ctx.sessions) as s:
            quiz = s.get(QuizSession, session_id)
            if quiz is None:
                raise KeyError(session_id)
            return self._summary(s, quiz)


    # ------------------------------------------------------------------ internals

    def _open(
        self, s: Session, learner_id: int, kind: str, scope: dict, items: list[QuizItem], now: datetime
    ) -> Question:
        if s.get(Learner, learner_id) is None:
            raise KeyError(f"unknown learner {learner_id}")
        for old in s.scalars(
            select(QuizSession).where(QuizSession.learner_id == learner_id, QuizSession.status == "active")
        ):
            old.status, old.updated_at = "stopped", now
        quiz = QuizSession(
            id=str(uuid.uuid4()),
            learner_id=learner_id,
            kind=kind,
            scope=scope,
            item_ids=[i.id for i in items],
            position=0,
            status="active",
            started_at=now,
            updated_at=now,
        )
        s.add(quiz)
        question = self._question(quiz)
        assert question is not None  # items come from the bank just now
        return question

    def _active(self, s: Session, learner_id: int) -> QuizSession | None:
        return s.scalars(
            select(QuizSession)
            .where(QuizSession.learner_id == learner_id, QuizSession.status == "active")
            .order_by(QuizSession.updated_at.desc())
            .limit(1)
            .with_for_update()
        ).first()

    def _question(self, quiz: QuizSession) -> Question | None:
        """The question at the session's position, skipping items gone from the bank."""
        ids = list(quiz.item_ids)
        while quiz.position < len(ids):
            item = self.ctx.bank.get(ids[quiz.position])
            if item is not None:
                return Question.of(quiz.id, item, quiz.position + 1, len(ids))
            quiz.position += 1
        return None

    def _respond(self, learner_id: int, response: Any, *, item_id: str | None, skip: bool) -> AnswerOutcome:
        now = self.ctx.clock()
        with session_scope(self.ctx.sessions) as s:
            quiz = self._active(s, learner_id)
            current = self._question(quiz) if quiz else None
            if item_id is not None and (current is None or current.item_id != item_id):
                replay = self._replay(s, learner_id, item_id, quiz)
                if replay is not None:
                    return replay
                if current is not None:
                    # A button from an older question: do not apply it to this one.
                    item = self.ctx.bank.by_id[current.item_id]
                    return AnswerOutcome(False, False, False, False, item, (), current)
            if quiz is None or current is None:
                raise NoActiveQuizError("no quiz in progress")
            item = self.ctx.bank.by_id[current.item_id]
            chosen: tuple[str, ...] = ()
            if skip:
                correct = False
            else:
                check = check_answer(item, response)
                if not check.recognised:
                    return AnswerOutcome(False, False, False, False, item, (), current)
                correct, chosen = check.correct, check.chosen
            inserted = insert_attempt_once(
                s,
                {
                    "learner_id": learner_id,
                    "session_id": quiz.id,
                    "item_id": item.id,
                    "attempt_no": 1,
                    "module": item.module,
                    "competencies": list(item.competencies),
                    "response": "" if skip else _response_text(response),
                    "correct": correct,
                    "skipped": skip,
                    "answered_at": now,
                },
            )
            if not inserted:  # lost a race with a concurrent copy of this write
                return self._replay(s, learner_id, item.id, quiz) or AnswerOutcome(
                    True, correct, skip, True, item, chosen, current
                )
            self._learn(s, learner_id, item, correct, skip, now)
            quiz.position = current.number  # set, not increment: a replay cannot skip ahead
            quiz.updated_at = now
            following = self._question(quiz)
            summary = None
            if following is None:
                self._finish(quiz, now)
                s.flush()
                summary = self._summary(s, quiz)
            return AnswerOutcome(True, correct, skip, False, item, chosen, following, summary)

    def _replay(self, s: Session, learner_id: int, item_id: str, active: QuizSession | None) -> AnswerOutcome | None:
        """The recorded outcome of an already answered item (for retried writes)."""
        attempt = s.scalars(
            select(Attempt)
            .where(Attempt.learner_id == learner_id, Attempt.item_id == item_id)
            .order_by(Attempt.answered_at.desc(), Attempt.id.desc())
            .limit(1)
        ).first()
        item = self.ctx.bank.get(item_id)
        if attempt is None or item is None:
            return None
        quiz = s.get(QuizSession, attempt.session_id)
        if active is not None and quiz is not None and quiz.id != active.id:
            return None  # answered in an older session: this is a new question, not a retry
        check = check_answer(item, attempt.response) if not attempt.skipped else None
        following = self._question(quiz) if quiz is not None and quiz.status == "active" else None
        summary = self._summary(s, quiz) if quiz is not None and quiz.status == "finished" else None
        return AnswerOutcome(
            True, attempt.correct, attempt.skipped, True, item, check.chosen if check else (), following, summary
        )

    def _learn(self, s: Session, learner_id: int, item: QuizItem, correct: bool, skip: bool, now: datetime) -> None:
        row = s.get(ReviewState, (learner_id, item.id), with_for_update=True)
        values = self.ctx.scheduler.review(row, correct, now)
        if row is None:
            s.add(ReviewState(learner_id=learner_id, item_id=item.id, module=item.module, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        if skip:
            return  # a skip says "not yet learned" for review, but is no evidence of mastery
        for competency in item.competencies:
            update_mastery(s, learner_id, "competency", competency, correct, now)
        update_mastery(s, learner_id, "module", item.module, correct, now)

    @staticmethod
    def _finish(quiz: QuizSession, now: datetime) -> None:
        quiz.status, quiz.finished_at, quiz.updated_at = "finished", now, now

    def _summary(self, s: Session, quiz: QuizSession) -> SessionSummary:
        return summarise(s, quiz, self.ctx.bank)


def summarise(s: Session, quiz: QuizSession, bank: QuizBank) -> SessionSummary:
    """Score of one quiz session (so far), by competency and by module."""
    attempts = s.scalars(select(Attempt).where(Attempt.session_id == quiz.id)).all()
    comps: dict[str, list[int]] = {}
    mods: dict[str, list[int]] = {}
    for a in attempts:
        if a.skipped:
            continue
        for key, table in [(c, comps) for c in a.competencies] + [(a.module, mods)]:
            entry = table.setdefault(key, [0, 0])
            entry[0] += int(a.correct)
            entry[1] += 1
    return SessionSummary(
        session_id=quiz.id,
        kind=quiz.kind,
        status=quiz.status,
        total=len(quiz.item_ids),
        answered=sum(1 for a in attempts if not a.skipped),
        correct=sum(1 for a in attempts if a.correct and not a.skipped),
        skipped=sum(1 for a in attempts if a.skipped),
        by_competency=tuple(CompetencyScore(k, v[0], v[1]) for k, v in sorted(comps.items())),
        by_module=tuple(CompetencyScore(bank.modules.get(k, k), v[0], v[1]) for k, v in sorted(mods.items())),
        finished_at=quiz.finished_at,
    )


def _response_text(response: Any) -> str:
    if isinstance(response, bool):
        return "true" if response else "false"
    if isinstance(response, (list, tuple)):
        return ", ".join(str(r) for r in response)
    return str(response)
