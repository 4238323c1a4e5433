"""Quizzes, spaced review, mastery and progress for learners.

Everything goes through one object, :class:`Quizzes`, which keeps all state in the
learner store (:mod:`bot.store`) so it survives restarts and is shared by replicas. It is a
facade over two halves sharing one :class:`~bot.quizzes.context.QuizContext`:
:class:`QuizSessions` (``quizzes.quiz_sessions``: quizzes, reviews, answers) and
:class:`LearnerRecords` (``quizzes.learners``: profiles, due reviews, progress, export and
erasure).

Example::

    from bot.quizzes import Quizzes, QuizBank, NoQuestionsError, NoActiveQuizError

    bank, problems = QuizBank.load("knowledge_base/quizzes", base="knowledge_base")
    quizzes = Quizzes("sqlite:///.state/learners.db", bank)  # migrates on start-up
    # or: quizzes, problems = Quizzes.from_settings()

    learner = quizzes.learner("telegram", pseudonym_id, language="en")
    q = quizzes.start_quiz(learner, topic="RTI", n=5)        # -> Question
    send(q.as_markdown(), q.buttons())                       # buttons: /answer_quiz{"quiz_answer":"B"}
    out = quizzes.answer(learner, "B", item_id=q.item_id)    # -> AnswerOutcome
    send(out.feedback_markdown())
    if out.question: send(out.question.as_markdown(), out.question.buttons())
    elif out.summary: send(out.summary.as_markdown())

API (``Quizzes``):

- ``Quizzes(database: str | Engine, bank: QuizBank, *, scheduler=None, clock=utcnow, seed=None,
  auto_migrate=True, local_tz=IST)``; ``Quizzes.from_settings(settings=None, **kw) -> (Quizzes, problems)``
- ``learner(channel, external_id, **profile) -> int``;
  ``update_profile(learner_id, *, language=, role=, department=, consent=)``
- ``start_quiz(learner_id, *, topic=None, module=None, documents=None, anchor=None, n=5, language=None) -> Question``
  (raises :class:`NoQuestionsError`); prefers due, then weak, then new items; pauses any quiz in progress.
- ``start_review(learner_id, *, n=5, topic=None) -> Question`` (raises :class:`NoQuestionsError`
  with ``.next_due`` when nothing is due)
- ``current_question(learner_id) -> Question | None``
- ``answer(learner_id, response, *, item_id=None) -> AnswerOutcome`` (idempotent when ``item_id`` is
  given; ``recognised=False`` means ask again, nothing recorded; raises :class:`NoActiveQuizError`)
- ``skip(learner_id, *, item_id=None) -> AnswerOutcome``
- ``quiz_sessions.start_items(learner_id, items, scope, *, now=None) -> Question`` (a quiz on exactly these items)
- ``stop(learner_id) -> SessionSummary | None``; ``resume(learner_id) -> Question | None``;
  ``summary(session_id) -> SessionSummary``
- ``due_items(learner_id) -> list[str]``; ``learners_due(*, consent_only=True, minimum=1) -> list[DueLearner]``
- ``progress(learner_id, *, recent=5) -> Progress`` (``.as_markdown()``)
- ``export(learner_id) -> dict``; ``export_json(learner_id) -> str``;
  ``export_csv(learner_id) -> {"attempts.csv": str, ...}``; ``erase(learner_id) -> {table: rows deleted}``

Lower level: :func:`load_banks` ``(folder, base=None) -> (list[QuizItem], list[Problem])``,
:func:`check_answer` ``(item, response) -> AnswerCheck``, :class:`ReviewScheduler` (FSRS).
"""

from bot.quizzes.answers import AnswerCheck, check_answer, normalise_wording, numbers_in
from bot.quizzes.banks import Problem, QuizBank, QuizItem, load_bank_file, load_banks
from bot.quizzes.context import IST, QuizContext
from bot.quizzes.learner_records import LearnerRecords
from bot.quizzes.quiz_sessions import NoActiveQuizError, NoQuestionsError, QuizSessions
from bot.quizzes.scheduler import ReviewScheduler, SchedulerConfig
from bot.quizzes.service import Quizzes
from bot.quizzes.views import (
    AnswerOutcome,
    CompetencyScore,
    DueLearner,
    MasteryEntry,
    Progress,
    Question,
    SessionSummary,
)

__all__ = [
    "IST",
    "AnswerCheck",
    "AnswerOutcome",
    "CompetencyScore",
    "DueLearner",
    "LearnerRecords",
    "MasteryEntry",
    "NoActiveQuizError",
    "NoQuestionsError",
    "Problem",
    "Progress",
    "Question",
    "QuizBank",
    "QuizContext",
    "QuizItem",
    "QuizSessions",
    "Quizzes",
    "ReviewScheduler",
    "SchedulerConfig",
    "SessionSummary",
    "check_answer",
    "load_bank_file",
    "load_banks",
    "normalise_wording",
    "numbers_in",
]
