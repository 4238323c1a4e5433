"""Plain result objects returned by :class:`bot.quizzes.Quizzes`, with chat renderings.

Renderings use the project's Markdown subset (``**bold**``, ``_italic_``, ``- `` bullets)
and Rasa buttons ``{"title", "payload"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from bot.i18n import t
from bot.quizzes.banks import QuizItem, letter


def _cite(item: QuizItem, titles: dict[str, str] | None) -> str:
    """"<document title> — <anchor>" (the path when the title is unknown)."""
    document = (titles or {}).get(item.source_document, item.source_document)
    return document + (f" — {item.source_anchor}" if item.source_anchor else "")


@dataclass(frozen=True)
class Question:
    """The question a learner should answer now."""

    session_id: str
    item_id: str
    number: int  # 1-based position in the session
    total: int
    type: str
    text: str
    options: tuple[str, ...]
    module: str
    module_title: str
    competencies: tuple[str, ...] = ()

    @classmethod
    def of(cls, session_id: str, item: QuizItem, number: int, total: int) -> Question:
        """Build from a bank item."""
        return cls(
            session_id,
            item.id,
            number,
            total,
            item.type,
            item.question,
            item.options,
            item.module,
            item.module_title,
            item.competencies,
        )

    def as_markdown(self, language: str = "en") -> str:
        """Question text with lettered options and a hint on how to answer."""
        header = t("quiz_question_header", language, number=self.number, total=self.total, module=self.module_title)
        lines = [header, "", self.text]
        if self.type in ("single", "multiple"):
            lines.append("")
            lines.extend(f"- **{letter(i)}.** {option}" for i, option in enumerate(self.options))
        lines += ["", f"_{t('quiz_hint_' + self.type, language)}_"]
        return "\n".join(lines)

    def buttons(self, intent: str = "answer_quiz", entity: str = "quiz_answer",
                language: str = "en") -> list[dict[str, str]]:
        """Rasa buttons for the answer choices (none for short or multiple-answer items).

        Args:
            intent: Intent the payload triggers.
            entity: Entity (and slot) carrying the answer.

        Returns:
            ``[{"title": "A", "payload": '/answer_quiz{"quiz_answer":"A"}'}, ...]``.
        """
        if self.type == "single":
            values = [(letter(i), letter(i)) for i in range(len(self.options))]
        elif self.type == "true_false":
            values = [(t("quiz_true", language), "true"), (t("quiz_false", language), "false")]
        else:
            return []
        return [
            {"title": title, "payload": f"/{intent}" + json.dumps({entity: value}, separators=(",", ":"))}
            for title, value in values
        ]


@dataclass(frozen=True)
class CompetencyScore:
    """Right answers out of answered questions for one competency or module in a session."""

    name: str
    correct: int
    answered: int


@dataclass(frozen=True)
class SessionSummary:
    """Score of one quiz or review session."""

    session_id: str
    kind: str
    status: str  # active | stopped | finished
    total: int  # questions chosen for the session
    answered: int  # answered (not skipped)
    correct: int
    skipped: int
    by_competency: tuple[CompetencyScore, ...] = ()
    by_module: tuple[CompetencyScore, ...] = ()
    finished_at: datetime | None = None

    @property
    def score(self) -> float:
        """Fraction right of the questions asked so far (skips count as not right)."""
        asked = self.answered + self.skipped
        return self.correct / asked if asked else 0.0

    def as_markdown(self, language: str = "en") -> str:
        """Short score report for the chat."""
        done = self.status == "finished"
        key = ("quiz_review_" if self.kind == "review" else "quiz_") + ("finished" if done else "paused")
        lines = [t("quiz_score", language, head=t(key, language), correct=self.correct,
                   asked=self.answered + self.skipped)]
        if self.skipped:
            lines[0] += t("quiz_skipped_count", language, skipped=self.skipped)
        if self.by_competency:
            lines.append("")
            lines.extend(f"- {c.name}: {c.correct}/{c.answered}" for c in self.by_competency)
        if not done:
            lines += ["", t("quiz_left", language, left=self.total - self.answered - self.skipped)]
        return "\n".join(lines)


@dataclass(frozen=True)
class AnswerOutcome:
    """What happened to one answer or skip, and what comes next.

    Attributes:
        recognised: False if the reply could not be read as an answer (nothing was
            recorded; ask again with ``question``).
        correct: Whether it was right (False for skips and unrecognised replies).
        skipped: The learner skipped the question.
        duplicate: This answer had already been recorded (a retried write); nothing
            was counted twice.
        item: The question answered.
        chosen: How the reply was read (option texts), for feedback.
        question: The next question, or the same one again when not recognised;
            None when the session is over.
        summary: The session summary when this answer finished it.
    """

    recognised: bool
    correct: bool
    skipped: bool
    duplicate: bool
    item: QuizItem
    chosen: tuple[str, ...] = ()
    question: Question | None = None
    summary: SessionSummary | None = None

    def feedback_markdown(self, language: str = "en", titles: dict[str, str] | None = None) -> str:
        """Right/wrong feedback with the correct answer, explanation and source.

        Args:
            language: reply language.
            titles: document path -> title, to cite documents by name.
        """
        item = self.item
        if not self.recognised:
            last = letter(len(item.options) - 1) if item.options else "B"
            kind = item.type if item.type in ("single", "multiple") else "true_false"
            return t(f"quiz_unrecognised_{kind}", language, last=last)
        if self.skipped:
            lines = [t("quiz_skipped", language, answer=item.answer_text)]
        elif self.correct:
            lines = [t("quiz_correct", language)]
        else:
            lines = [t("quiz_wrong", language, answer=item.answer_text)]
        if item.explanation:
            lines += ["", item.explanation]
        if item.source_document:
            lines += ["", t("quiz_source", language, citation=_cite(item, titles))]
        return "\n".join(lines)


@dataclass(frozen=True)
class MasteryEntry:
    """Mastery of one competency or module."""

    key: str
    title: str
    score: float  # 0-1, exponentially weighted recent correctness
    level: str  # mastered | developing | needs practice
    attempts: int
    correct: int


@dataclass(frozen=True)
class Progress:
    """A learner's progress overview."""

    learner_id: int
    competencies: tuple[MasteryEntry, ...]
    modules: tuple[MasteryEntry, ...]
    streak_days: int
    items_due: int
    next_due: datetime | None
    items_seen: int
    total_answered: int
    total_correct: int
    recent_sessions: tuple[SessionSummary, ...] = field(default_factory=tuple)

    def as_markdown(self, language: str = "en") -> str:
        """Progress report for the chat."""
        if not self.total_answered:
            return t("progress_none", language)
        lines = [t("progress_header", language, correct=self.total_correct, answered=self.total_answered)]
        if self.streak_days:
            lines.append(t("progress_streak", language, days=self.streak_days))

        def level(entry: MasteryEntry) -> str:
            return t("mastery_" + entry.level.replace(" ", "_"), language)

        if self.modules:
            lines += ["", t("progress_by_module", language)]
            lines.extend(f"- {m.title}: {round(m.score * 100)}% ({level(m)})" for m in self.modules)
        if self.competencies:
            lines += ["", t("progress_by_competency", language)]
            lines.extend(f"- {c.title}: {round(c.score * 100)}% ({level(c)})" for c in self.competencies)
        if self.recent_sessions:
            lines += ["", t("progress_recent", language)]
            lines.extend(f"- {s.correct}/{s.answered + s.skipped}" for s in self.recent_sessions)
        lines.append("")
        lines.append(t("progress_due", language, count=self.items_due) if self.items_due
                     else t("progress_none_due", language))
        return "\n".join(lines)


@dataclass(frozen=True)
class DueLearner:
    """A learner with reviews due (for reminders)."""

    learner_id: int
    channel: str
    external_id: str
    due_count: int
    language: str | None = None
