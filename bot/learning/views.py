"""Plain result objects returned by :class:`bot.learning.Learning`, with chat renderings.

Renderings use the project's Markdown subset (``**bold**``, ``_italic_``, ``- `` bullets)
and Rasa buttons ``{"title", "payload"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from bot.learning.banks import QuizItem, letter


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

    def as_markdown(self) -> str:
        """Question text with lettered options and a hint on how to answer."""
        lines = [f"**Question {self.number} of {self.total}** · _{self.module_title}_", "", self.text]
        if self.type in ("single", "multiple"):
            lines.append("")
            lines.extend(f"- **{letter(i)}.** {option}" for i, option in enumerate(self.options))
        hint = {
            "single": "Reply with a letter.",
            "multiple": "Choose all that apply, e.g. _A, C_.",
            "true_false": "True or false?",
            "short": "Type your answer.",
        }[self.type]
        lines += ["", f"_{hint}_"]
        return "\n".join(lines)

    def buttons(self, intent: str = "answer_quiz", entity: str = "quiz_answer") -> list[dict[str, str]]:
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
            values = [("True", "true"), ("False", "false")]
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

    def as_markdown(self) -> str:
        """Short score report for the chat."""
        head = "Quiz finished" if self.status == "finished" else "Quiz paused"
        if self.kind == "review":
            head = "Review finished" if self.status == "finished" else "Review paused"
        lines = [f"**{head}: {self.correct} of {self.answered + self.skipped} correct**"]
        if self.skipped:
            lines[0] += f" _({self.skipped} skipped)_"
        if self.by_competency:
            lines.append("")
            lines.extend(f"- {c.name}: {c.correct}/{c.answered}" for c in self.by_competency)
        if self.status != "finished":
            lines += [
                "",
                f"_{self.total - self.answered - self.skipped} questions left; say 'resume quiz' to continue._",
            ]
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

    def feedback_markdown(self) -> str:
        """Right/wrong feedback with the correct answer, explanation and source."""
        item = self.item
        if not self.recognised:
            if item.type == "multiple":
                return f"Please answer with letters A-{letter(len(item.options) - 1)}, e.g. _A, C_."
            if item.type == "single":
                return f"Please answer with a letter from A to {letter(len(item.options) - 1)}."
            return "Please answer _true_ or _false_."
        if self.skipped:
            lines = [f"Skipped. The answer is **{item.answer_text}**."]
        elif self.correct:
            lines = ["✅ **Correct!**"]
        else:
            lines = [f"❌ **Not quite.** The answer is **{item.answer_text}**."]
        if item.explanation:
            lines += ["", item.explanation]
        if item.source_document:
            cite = item.source_document + (f" — {item.source_anchor}" if item.source_anchor else "")
            lines += ["", f"📖 **Source:** {cite}"]
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

    def as_markdown(self) -> str:
        """Progress report for the chat."""
        if not self.total_answered:
            return "You have not answered any quiz questions yet. Say _quiz me_ to start."
        lines = [f"**Your progress** — {self.total_correct} of {self.total_answered} answers right"]
        if self.streak_days:
            lines.append(f"🔥 {self.streak_days}-day streak")
        if self.modules:
            lines += ["", "**By module**"]
            lines.extend(f"- {m.title}: {round(m.score * 100)}% ({m.level})" for m in self.modules)
        if self.competencies:
            lines += ["", "**By competency**"]
            lines.extend(f"- {c.title}: {round(c.score * 100)}% ({c.level})" for c in self.competencies)
        if self.recent_sessions:
            lines += ["", "**Recent quizzes**"]
            lines.extend(f"- {s.correct}/{s.answered + s.skipped}" for s in self.recent_sessions)
        lines.append("")
        lines.append(
            f"_{self.items_due} questions due for review._" if self.items_due else "_No reviews due right now._"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class DueLearner:
    """A learner with reviews due (for reminders)."""

    learner_id: int
    channel: str
    external_id: str
    due_count: int
    language: str | None = None
