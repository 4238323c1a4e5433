"""Onboarding track for new recruits: a daily micro-lesson with a check question.

Each day of the track the learner gets a few lines from one section of a module (with
its citation) and one check question from that module's quiz bank, started as a
one-question quiz so the answer flows through the normal quiz handling and counts
toward mastery. Lessons go out at the time the learner chose (IST); the track can be
paused, resumed and stopped, and its completion is recorded.

Delivery is split from preparation: :meth:`Onboarding.prepare_due` makes the lessons
that are due (one per learner at a time: a lesson nobody has received yet is not
stacked with another), and :mod:`bot.background_worker` pushes them to Telegram,
while web learners receive them at their next turn (:meth:`Onboarding.take_pending`).

State lives in the learner store (``onboarding_tracks``, ``onboarding_lessons``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select

from bot.i18n import words_in_every_language
from bot.plans.roles import RoleModel
from bot.quizzes import IST, Question, Quizzes
from bot.store import Attempt, Learner, session_factory, session_scope
from bot.store.plans_models import OnboardingLesson, OnboardingTrack

DEFAULT_SEND_TIME = "09:00"
DEFAULT_TRACK = "new-recruit"
#: Most characters of module text in one micro-lesson (a phone screen).
LESSON_CHARS = 480
_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+")


class OnboardingError(LookupError):
    """The learner has no onboarding track (or none in the state the call needs)."""


@dataclass(frozen=True)
class LessonChunk:
    """The part of a knowledge-base chunk a lesson needs (see :class:`bot.knowledge.chunking.Chunk`)."""

    module: str
    source: str
    title: str
    anchor: str
    text: str
    citation: str
    position: int = 0


@dataclass(frozen=True)
class Lesson:
    """One prepared day of the track, ready to send."""

    lesson_id: int
    learner_id: int
    day: int
    total_days: int
    module: str
    title: str
    anchor: str
    excerpt: str
    citation: str
    question: Question | None
    last: bool

    def as_markdown(self, texts: Callable[..., str]) -> str:
        """The message: heading, excerpt, citation, and the check question.

        Args:
            texts: ``t(key, **values)`` bound to the learner's language.
        """
        lines = [texts("plans_lesson_heading", day=self.day, total=self.total_days, title=self.title), "",
                 self.excerpt, "", f"📖 **{texts('plans_source')}:** {self.citation}"]
        if self.question is not None:
            lines += ["", f"**{texts('plans_check_question')}**", self.question.as_markdown()]
        if self.last:
            lines += ["", texts("plans_onboarding_last_day")]
        return "\n".join(lines)

    def buttons(self) -> list[dict[str, str]]:
        """Answer buttons of the check question (none for typed answers)."""
        return self.question.buttons() if self.question is not None else []


@dataclass(frozen=True)
class TrackStatus:
    """Where a learner is in the track."""

    track: str
    status: str
    day: int
    total_days: int
    send_time: str
    next_due_at: datetime | None
    streak: int
    answered: int
    completed_at: datetime | None


@dataclass(frozen=True)
class DueLesson:
    """A prepared lesson and who gets it (for the delivery worker)."""

    lesson: Lesson
    channel: str
    external_id: str
    language: str


def parse_time(text: str) -> str | None:
    """Read a time of day: "8", "8 am", "8:30 pm", "20:30", "सुबह 8 बजे", "shaam 7 baje".

    Returns:
        ``"HH:MM"`` (24 h), or None when no valid time is found.
    """
    if not text:
        return None
    low = text.casefold()
    match = re.search(r"(\d{1,2})(?:\s*[:.]\s*(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?)?", low)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").replace(".", "").replace(" ", "")
    # The locales' ``evening_words`` (comma-separated) make "সন্ধ্যা ৭টায়" 19:00 in any language.
    locale_words = [w.casefold() for w in words_in_every_language("evening_words")]
    evening = any(w in low for w in ("शाम", "रात", "shaam", "sham ", "raat", "evening", "night", *locale_words))
    if suffix == "pm" or (evening and not suffix and hour < 12):
        hour = hour % 12 + 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return f"{hour:02d}:{minute:02d}"


def next_occurrence(send_time: str, after: datetime, tz: timezone = IST, *, skip_today: bool = False) -> datetime:
    """The next moment (UTC) the clock in ``tz`` shows ``send_time`` after ``after``.

    Args:
        send_time: ``"HH:MM"``.
        after: Aware datetime.
        tz: The learner's time zone.
        skip_today: Never today, even if the time is still ahead (the next day's lesson).
    """
    hour, minute = (int(p) for p in send_time.split(":"))
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if skip_today or candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def excerpt(text: str, limit: int = LESSON_CHARS) -> str:
    """The first sentences of ``text`` that fit in ``limit`` characters (at least one)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    out: list[str] = []
    for sentence in sentences:
        if out and sum(len(s) + 1 for s in out) + len(sentence) > limit:
            break
        out.append(sentence)
    result = " ".join(out)
    return result if len(result) <= limit + 200 else result[:limit].rsplit(" ", 1)[0] + " …"


def lesson_sections(modules: Sequence[str], days: int, chunks: Sequence[LessonChunk]) -> list[LessonChunk]:
    """Choose one section per day: modules in track order, each given an even share of days.

    Sections with their own heading are preferred over a module's introduction; within a
    module they keep document order, spread evenly when there are more than its share.

    Args:
        modules: The track's modules, in teaching order.
        days: Length of the track.
        chunks: Chunks of the live index.

    Returns:
        Up to ``days`` sections (fewer only if the modules have too little text).
    """
    by_module: dict[str, list[LessonChunk]] = {m: [] for m in modules}
    seen: set[tuple[str, str]] = set()
    for chunk in sorted(chunks, key=lambda c: (c.source, c.position)):
        key = (chunk.source, chunk.anchor)
        if chunk.module in by_module and key not in seen:  # first chunk of each section
            seen.add(key)
            by_module[chunk.module].append(chunk)
    for module, found in by_module.items():
        headed = [c for c in found if c.anchor and c.anchor != c.title]
        by_module[module] = headed or found
    available = [m for m in modules if by_module[m]]
    if not available:
        return []
    share = {m: days // len(available) + (1 if i < days % len(available) else 0) for i, m in enumerate(available)}
    out: list[LessonChunk] = []
    for module in available:
        sections, n = by_module[module], min(share[module], len(by_module[module]))
        step = len(sections) / n if n else 1
        out += [sections[int(i * step)] for i in range(n)]
    return out[:days]


def chunks_from_index(index: Any) -> list[LessonChunk]:
    """Lesson material from a live index (``bot.wiring.get_retriever().index``).

    Superseded or expired documents are left out.
    """
    out = []
    for chunk in index.chunks:
        meta = chunk.meta or {}
        if meta.get("superseded_by"):
            continue
        out.append(LessonChunk(str(meta.get("module") or ""), chunk.source, chunk.title, chunk.anchor,
                               chunk.text, chunk.citation, chunk.position))
    return out


class Onboarding:
    """Start, deliver, pause, resume and stop onboarding tracks.

    Args:
        quizzes: The quiz service (store, quiz bank, clock).
        roles: The role model (tracks are roles with an ``onboarding`` section).
        chunks: Returns the current lesson material (e.g. from the live index).
        default_days: Overrides every track's length when set (``ONBOARDING_DAYS``).
        tz: The learners' time zone.
    """

    def __init__(
        self,
        quizzes: Quizzes,
        roles: RoleModel,
        chunks: Callable[[], Sequence[LessonChunk]],
        *,
        default_days: int | None = None,
        tz: timezone = IST,
    ) -> None:
        self.quizzes = quizzes
        self.roles = roles
        self.chunks = chunks
        self.default_days = default_days
        self.tz = tz
        self._sessions = session_factory(quizzes.engine)

    @property
    def clock(self) -> Callable[[], datetime]:
        """The quiz service's clock (tests move it)."""
        return self.quizzes.clock

    def track_for(self, role_id: str | None) -> str:
        """The onboarding track of a role (its own if it has one, else the general one).

        Raises:
            OnboardingError: The role model defines no track at all.
        """
        role = self.roles.get(role_id)
        if role is not None and role.onboarding is not None:
            return role.id
        fallback = self.roles.get(DEFAULT_TRACK)
        if fallback is not None and fallback.onboarding is not None:
            return fallback.id
        for role in self.roles.roles.values():
            if role.onboarding is not None:
                return role.id
        raise OnboardingError("no onboarding track is defined in knowledge_base/roles")

    # ------------------------------------------------------------------ learner commands

    def start(self, learner_id: int, *, role_id: str | None = None, send_time: str = DEFAULT_SEND_TIME,
              days: int | None = None) -> TrackStatus:
        """Start (or restart) the track; the first lesson is due at once.

        Args:
            learner_id: Learner.
            role_id: The learner's role (picks the track).
            send_time: Daily time ``"HH:MM"`` (IST).
            days: Length; default the track's own (or ``default_days``).

        Returns:
            The new :class:`TrackStatus`.
        """
        track = self.track_for(role_id)
        role = self.roles.get(track)
        assert role is not None and role.onboarding is not None
        total = days or self.default_days or role.onboarding.days
        now = self.clock()
        with session_scope(self._sessions) as s:
            row = s.get(OnboardingTrack, learner_id)
            if row is not None and row.status in ("active", "paused"):
                row.send_time, row.status, row.updated_at = send_time, "active", now
                if row.next_due_at is None:
                    row.next_due_at = now
                return self._status(s, row)
            if row is not None:  # stopped or completed: start over
                for lesson in s.scalars(select(OnboardingLesson).where(OnboardingLesson.learner_id == learner_id)):
                    s.delete(lesson)
                s.delete(row)
                s.flush()
            row = OnboardingTrack(learner_id=learner_id, track=track, status="active", total_days=total, day=0,
                                  send_time=send_time, next_due_at=now, started_at=now, updated_at=now)
            s.add(row)
            s.flush()
            return self._status(s, row)

    def set_time(self, learner_id: int, send_time: str) -> TrackStatus:
        """Change the daily time; the next lesson moves to its next occurrence.

        Raises:
            OnboardingError: No track.
        """
        with session_scope(self._sessions) as s:
            row = self._row(s, learner_id)
            row.send_time, row.updated_at = send_time, self.clock()
            if row.status == "active" and row.day > 0:
                row.next_due_at = next_occurrence(send_time, self.clock(), self.tz)
            return self._status(s, row)

    def pause(self, learner_id: int) -> TrackStatus:
        """Stop sending lessons until :meth:`resume` (progress is kept)."""
        return self._set_status(learner_id, "paused")

    def resume(self, learner_id: int) -> TrackStatus:
        """Continue a paused track: the next lesson comes at the next chosen time."""
        with session_scope(self._sessions) as s:
            row = self._row(s, learner_id)
            if row.status == "paused":
                row.status, row.updated_at = "active", self.clock()
                row.next_due_at = next_occurrence(row.send_time, self.clock(), self.tz) if row.day else self.clock()
            return self._status(s, row)

    def stop(self, learner_id: int) -> TrackStatus:
        """End the track for good (it can be started again from day 1)."""
        return self._set_status(learner_id, "stopped")

    def status(self, learner_id: int) -> TrackStatus | None:
        """The learner's track, or None if they never started one."""
        with session_scope(self._sessions) as s:
            row = s.get(OnboardingTrack, learner_id)
            return self._status(s, row) if row is not None else None

    # ------------------------------------------------------------------ lessons

    def due_learners(self) -> list[int]:
        """Learners whose next lesson is due now (only those who consent to being stored)."""
        with session_scope(self._sessions) as s:
            return list(s.scalars(
                select(OnboardingTrack.learner_id)
                .join(Learner, Learner.id == OnboardingTrack.learner_id)
                .where(OnboardingTrack.status == "active", OnboardingTrack.next_due_at <= self.clock(),
                       Learner.consent.is_(True))
                .order_by(OnboardingTrack.next_due_at)
            ))

    def prepare(self, learner_id: int, *, force: bool = False) -> Lesson | None:
        """Make the learner's next lesson if it is due (or ``force``), and schedule the one after.

        A lesson is not made while the previous one still waits to be delivered: the day
        moves on instead, so a learner who is away does not come back to a pile.

        A lesson is stored (with its check question) only for a learner who consents to
        being stored: one whose consent was withdrawn gets nothing, whoever asks.

        Returns:
            The new :class:`Lesson`, or None (not due, nothing left, previous undelivered,
            or no consent).
        """
        now = self.clock()
        with session_scope(self._sessions) as s:
            learner = s.get(Learner, learner_id)
            if learner is None or not learner.consent:
                return None
            row = s.get(OnboardingTrack, learner_id, with_for_update=True)
            if row is None or row.status != "active":
                return None
            if not force and (row.next_due_at is None or row.next_due_at > now):
                return None
            if row.day >= row.total_days:
                self._complete(row, now)
                return None
            waiting = s.scalars(select(OnboardingLesson).where(OnboardingLesson.learner_id == learner_id,
                                                              OnboardingLesson.delivered_at.is_(None))).first()
            row.next_due_at = next_occurrence(row.send_time, now, self.tz, skip_today=row.day > 0 or force)
            row.updated_at = now
            if waiting is not None:
                return None
            role = self.roles.get(row.track)
            modules = role.onboarding.modules if role is not None and role.onboarding else ()
            sections = lesson_sections(modules, row.total_days, self.chunks())
            if not sections:
                return None
            section = sections[min(row.day, len(sections) - 1)]
            row.day += 1
            lesson = OnboardingLesson(learner_id=learner_id, day=row.day, module=section.module,
                                      source=section.source, anchor=section.anchor, created_at=now,
                                      answered=False, correct=False)
            s.add(lesson)
            s.flush()
            day, total = row.day, row.total_days
        question = self._check_question(learner_id, section)
        if question is not None:
            with session_scope(self._sessions) as s:
                stored = s.get(OnboardingLesson, lesson.id)
                if stored is not None:  # None: the learner's data was erased meanwhile
                    stored.item_id, stored.quiz_session_id = question.item_id, question.session_id
        return Lesson(lesson.id, learner_id, day, total, section.module, section.title, section.anchor,
                      excerpt(section.text), section.citation, question, day >= total)

    def prepare_due(self) -> list[DueLesson]:
        """Prepare every due lesson, with the recipient's channel and language."""
        out = []
        for learner_id in self.due_learners():
            lesson = self.prepare(learner_id)
            if lesson is None:
                continue
            with session_scope(self._sessions) as s:
                learner = s.get(Learner, learner_id)
                if learner is None:  # erased since the lesson was prepared: nobody to send it to
                    continue
                out.append(DueLesson(lesson, learner.channel, learner.external_id, learner.language or "en"))
        return out

    def mark_delivered(self, lesson_id: int, via: str) -> None:
        """Record that a lesson reached the learner (``telegram``, ``chat`` or ``next_turn``)."""
        with session_scope(self._sessions) as s:
            lesson = s.get(OnboardingLesson, lesson_id)
            if lesson is not None and lesson.delivered_at is None:
                lesson.delivered_at, lesson.delivered_via = self.clock(), via
                track = s.get(OnboardingTrack, lesson.learner_id)
                if track is not None and lesson.day >= track.total_days:
                    self._complete(track, self.clock())

    def take_pending(self, learner_id: int) -> list[Lesson]:
        """Lessons prepared but not yet delivered (web learners get them at their next turn).

        They are marked delivered (``next_turn``) as they are returned.
        """
        with session_scope(self._sessions) as s:
            rows = s.scalars(select(OnboardingLesson)
                             .where(OnboardingLesson.learner_id == learner_id, OnboardingLesson.delivered_at.is_(None))
                             .order_by(OnboardingLesson.day)).all()
            track = s.get(OnboardingTrack, learner_id)
            total = track.total_days if track else 0
            pending = [(r.id, r.day, r.module, r.source, r.anchor, r.item_id, r.quiz_session_id) for r in rows]
        lessons = []
        for lesson_id, day, module, source, anchor, item_id, _session_id in pending:
            section = next((c for c in self.chunks() if c.source == source and c.anchor == anchor), None)
            question = self.quizzes.current_question(learner_id) if item_id else None
            if question is not None and question.item_id != item_id:
                question = None  # the learner has moved on to another quiz
            lessons.append(Lesson(lesson_id, learner_id, day, total, module,
                                  section.title if section else module, anchor,
                                  excerpt(section.text) if section else "", section.citation if section else source,
                                  question, day >= total))
            self.mark_delivered(lesson_id, "next_turn")
        return lessons

    def latest_lesson_item(self, learner_id: int) -> str | None:
        """The check question of the learner's latest delivered lesson (None if none)."""
        with session_scope(self._sessions) as s:
            return s.scalars(select(OnboardingLesson.item_id)
                             .where(OnboardingLesson.learner_id == learner_id,
                                    OnboardingLesson.delivered_at.is_not(None))
                             .order_by(OnboardingLesson.day.desc()).limit(1)).first()

    # ------------------------------------------------------------------ internals

    def _check_question(self, learner_id: int, section: LessonChunk) -> Question | None:
        """Open a one-question quiz on the lesson's section (or, failing that, its module).

        An item citing the very section is preferred, one the learner has not answered
        before first; the quiz goes through :class:`Quizzes` so the answer is checked,
        scheduled for review and counted toward mastery like any other.
        """
        bank = self.quizzes.bank
        by_section = [i for i in bank.for_documents([section.source], section.anchor)
                      if i.source_anchor.casefold() == section.anchor.casefold()]
        candidates = by_section or bank.for_module(section.module) or bank.for_documents([section.source])
        if not candidates:
            return None
        with session_scope(self._sessions) as s:
            seen = set(s.scalars(select(Attempt.item_id).where(Attempt.learner_id == learner_id)))
        fresh = [i for i in candidates if i.id not in seen]
        item = (fresh or candidates)[0]
        scope = {"topic": None, "module": item.module, "documents": [section.source],
                 "anchor": section.anchor, "onboarding": True}
        return self.quizzes.quiz_sessions.start_items(learner_id, [item], scope, now=self.clock())

    def _row(self, s: Any, learner_id: int) -> OnboardingTrack:
        row = s.get(OnboardingTrack, learner_id)
        if row is None:
            raise OnboardingError(f"learner {learner_id} has no onboarding track")
        return row

    def _set_status(self, learner_id: int, status: str) -> TrackStatus:
        with session_scope(self._sessions) as s:
            row = self._row(s, learner_id)
            if row.status in ("active", "paused"):
                row.status, row.updated_at = status, self.clock()
            return self._status(s, row)

    @staticmethod
    def _complete(row: OnboardingTrack, now: datetime) -> None:
        row.status, row.completed_at, row.next_due_at, row.updated_at = "completed", now, None, now

    def _status(self, s: Any, row: OnboardingTrack) -> TrackStatus:
        lessons = s.scalars(select(OnboardingLesson).where(OnboardingLesson.learner_id == row.learner_id)
                            .order_by(OnboardingLesson.day)).all()
        for lesson in lessons:
            self._refresh(s, lesson)
        return TrackStatus(row.track, row.status, row.day, row.total_days, row.send_time, row.next_due_at,
                           _streak(lessons), sum(1 for lesson in lessons if lesson.answered), row.completed_at)

    @staticmethod
    def _refresh(s: Any, lesson: OnboardingLesson) -> None:
        """Note whether the check question was answered (read from the quiz attempts)."""
        if lesson.answered or not lesson.quiz_session_id:
            return
        attempt = s.scalars(select(Attempt).where(Attempt.session_id == lesson.quiz_session_id,
                                                  Attempt.item_id == lesson.item_id,
                                                  Attempt.skipped.is_(False))).first()
        if attempt is not None:
            lesson.answered, lesson.correct = True, attempt.correct


def _streak(lessons: Sequence[OnboardingLesson]) -> int:
    """Consecutive days, ending at the latest, whose check question was answered.

    Today's lesson, not answered yet, does not break the streak.
    """
    days = list(lessons)
    if days and not days[-1].answered:
        days = days[:-1]
    streak = 0
    for lesson in reversed(days):
        if not lesson.answered:
            break
        streak += 1
    return streak
