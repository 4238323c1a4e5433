"""Onboarding track: day progression on a simulated clock, streaks, pause/resume/stop, completion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import FakeClock, chunk

from bot.plans.onboarding import excerpt, lesson_sections, next_occurrence, parse_time
from bot.plans.service import Plans


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8 am", "08:00"), ("8:30 pm", "20:30"), ("20:30", "20:30"), ("9", "09:00"), ("12 am", "00:00"),
     ("सुबह 8 बजे", "08:00"), ("शाम 7 बजे", "19:00"), ("shaam 7 baje", "19:00"), ("7.15 p.m.", "19:15"),
     ("25:00", None), ("no time here", None)],
)
def test_parse_time(text: str, expected: str | None) -> None:
    assert parse_time(text) == expected


def test_next_occurrence_is_in_ist() -> None:
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 07:30 IST
    assert next_occurrence("09:00", at) == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert next_occurrence("07:00", at) == datetime(2026, 3, 3, 1, 30, tzinfo=UTC)
    assert next_occurrence("09:00", at, skip_today=True) == datetime(2026, 3, 3, 3, 30, tzinfo=UTC)


def test_sections_share_the_days_across_modules() -> None:
    material = [chunk("a", f"{i}. A{i}", "x", i) for i in range(1, 6)] + \
               [chunk("b", f"{i}. B{i}", "y", i) for i in range(1, 3)] + [chunk("c", "C intro", "z")]
    picked = lesson_sections(["a", "b", "zzz"], 4, material)
    assert [(c.module, c.anchor) for c in picked] == [("a", "1. A1"), ("a", "3. A3"), ("b", "1. B1"), ("b", "2. B2")]


def test_excerpt_keeps_whole_sentences() -> None:
    text = "First sentence here. " * 40
    short = excerpt(text, 100)
    assert short.endswith("here.") and len(short) <= 100


def answer_check(plans: Plans, learner: int, right: bool = True) -> None:
    """Answer the current check question (right or wrong), as the quiz action would."""
    question = plans.quizzes.current_question(learner)
    assert question is not None
    item = plans.quizzes.bank.by_id[question.item_id]
    if right:
        response = item.answer[0] if item.type == "short" else item.answer
    else:
        response = "true" if item.type == "true_false" and item.answer is False else \
            ("false" if item.type == "true_false" else "zzz-wrong")
        if item.type == "single":
            wrong = next(i for i, o in enumerate(item.options) if o != item.answer)
            response = "ABCD"[wrong]
    outcome = plans.quizzes.answer(learner, response, item_id=question.item_id)
    assert outcome.recognised and outcome.correct == right


def test_days_progress_at_the_chosen_time(plans: Plans, clock: FakeClock) -> None:
    onboarding = plans.onboarding
    learner = plans.learner("telegram", "tg-new-1", consent=True)
    status = onboarding.start(learner, role_id="new-recruit", send_time="08:00", days=3)
    assert (status.status, status.day, status.total_days) == ("active", 0, 3)
    assert onboarding.due_learners() == [learner]  # day 1 is due at once

    first = onboarding.prepare(learner)
    assert first is not None and first.day == 1 and first.module == "conduct-and-ethics"
    assert first.question is not None and first.question.module == "conduct-and-ethics"
    onboarding.mark_delivered(first.lesson_id, "telegram")
    assert onboarding.prepare(learner) is None  # day 2 not due yet
    status = onboarding.status(learner)
    # The clock is 10:00 IST on 2 March: day 2 comes at 08:00 IST on 3 March.
    assert status.next_due_at == datetime(2026, 3, 3, 2, 30, tzinfo=UTC)

    answer_check(plans, learner)
    clock.advance(hours=21, minutes=59)  # 07:59 IST next day
    assert onboarding.due_learners() == []
    clock.advance(minutes=1)
    second = onboarding.prepare(learner)
    assert second.day == 2 and second.module == "office-procedure"
    onboarding.mark_delivered(second.lesson_id, "telegram")
    answer_check(plans, learner)
    assert onboarding.status(learner).streak == 2

    clock.advance(days=1)
    third = onboarding.prepare(learner)
    assert third.day == 3 and third.last
    onboarding.mark_delivered(third.lesson_id, "telegram")
    status = onboarding.status(learner)
    assert status.status == "completed" and status.completed_at == clock.now and status.next_due_at is None
    clock.advance(days=1)
    assert onboarding.prepare(learner) is None


def test_a_missed_check_breaks_the_streak(plans: Plans, clock: FakeClock) -> None:
    onboarding = plans.onboarding
    learner = plans.learner("telegram", "tg-new-2", consent=True)
    onboarding.start(learner, role_id="new-recruit", days=5)
    for day, answered in enumerate([True, False, True, True], start=1):
        lesson = onboarding.prepare(learner)
        assert lesson.day == day
        onboarding.mark_delivered(lesson.lesson_id, "telegram")
        if answered:
            answer_check(plans, learner, right=day != 3)  # a wrong answer still counts as engaged
        clock.advance(days=1)
    status = onboarding.status(learner)
    assert status.streak == 2 and status.answered == 3


def test_pause_resume_and_stop(plans: Plans, clock: FakeClock) -> None:
    onboarding = plans.onboarding
    learner = plans.learner("telegram", "tg-new-3", consent=True)
    onboarding.start(learner, send_time="09:00")
    onboarding.mark_delivered(onboarding.prepare(learner).lesson_id, "telegram")
    assert onboarding.pause(learner).status == "paused"
    clock.advance(days=3)
    assert onboarding.due_learners() == [] and onboarding.prepare(learner) is None
    resumed = onboarding.resume(learner)
    assert resumed.status == "active" and resumed.day == 1
    assert resumed.next_due_at == next_occurrence("09:00", clock.now)
    clock.advance(days=1)
    assert onboarding.prepare(learner).day == 2
    stopped = onboarding.stop(learner)
    assert stopped.status == "stopped" and onboarding.prepare(learner, force=True) is None
    restarted = onboarding.start(learner)
    assert restarted.status == "active" and restarted.day == 0  # a stopped track starts over


def test_lessons_do_not_pile_up_while_the_learner_is_away(plans: Plans, clock: FakeClock) -> None:
    onboarding = plans.onboarding
    learner = plans.learner("socketio", "web-away", consent=True)
    onboarding.start(learner, days=10)
    assert onboarding.prepare(learner).day == 1  # prepared, never delivered (web learner away)
    for _ in range(4):
        clock.advance(days=1)
        assert onboarding.prepare(learner) is None
    pending = onboarding.take_pending(learner)
    assert [lesson.day for lesson in pending] == [1]
    assert onboarding.take_pending(learner) == []
    clock.advance(days=1)
    assert onboarding.prepare(learner).day == 2


def test_track_length_and_track_choice(kb_quizzes, clock: FakeClock) -> None:
    from test_plans_fixtures import KB, real_chunks

    material = real_chunks()
    plans = Plans(kb_quizzes, KB, chunks=lambda: material, onboarding_days=4)
    learner = plans.learner("rest", "csss-1", consent=True)
    status = plans.onboarding.start(learner, role_id="new-recruit-csss")
    assert status.track == "new-recruit-csss" and status.total_days == 4
    other = plans.learner("rest", "so-1", consent=True)
    assert plans.onboarding.start(other, role_id="section-officer").track == "new-recruit"  # general track
    lesson = plans.onboarding.prepare(learner)
    assert lesson.module == "office-procedure" and lesson.citation.startswith("Office Procedure")
    text = lesson.as_markdown(lambda key, **v: __import__("bot.i18n", fromlist=["t"]).t(key, "en", **v))
    assert text.startswith("📘 **Day 1 of 4: Office Procedure") and "📖 **Source:**" in text
    assert "Check your understanding:" in text


def test_erasing_a_learner_removes_their_onboarding(plans: Plans) -> None:
    from sqlalchemy import func, select

    from bot.store import session_factory, session_scope
    from bot.store.plans_models import PLANS_LEARNER_TABLES

    learner = plans.learner("telegram", "tg-erase", consent=True)
    plans.onboarding.start(learner)
    plans.onboarding.prepare(learner)
    plans.quizzes.erase(learner)
    with session_scope(session_factory(plans.quizzes.engine)) as s:
        for model in PLANS_LEARNER_TABLES:  # deleted explicitly (and by ON DELETE CASCADE)
            assert s.scalar(select(func.count()).select_from(model).where(model.learner_id == learner)) == 0


def test_a_learner_erased_while_lessons_are_prepared_does_not_stop_the_others(plans: Plans,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    onboarding = plans.onboarding
    # Both consent: onboarding lessons are made only for learners who agreed to be stored.
    erased = plans.learner("telegram", "tg-erased-meanwhile", consent=True)
    kept = plans.learner("telegram", "tg-kept", consent=True)
    onboarding.start(erased)
    onboarding.start(kept)
    prepare = onboarding.prepare

    def prepare_then_erase(learner_id: int, **kwargs) -> object:
        # The learner's erasure request lands between their lesson being made and sent.
        lesson = prepare(learner_id, **kwargs)
        if learner_id == erased:
            plans.quizzes.erase(erased)
        return lesson

    monkeypatch.setattr(onboarding, "prepare", prepare_then_erase)
    due = onboarding.prepare_due()
    assert [d.external_id for d in due] == ["tg-kept"]
