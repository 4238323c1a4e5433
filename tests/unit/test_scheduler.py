"""Spaced review with a simulated clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from quiz_support import *  # noqa: F403  (pytest fixtures: db_url, clock, bank, learning)
from quiz_support import START, FakeClock

from bot.quizzes import NoQuestionsError, Quizzes, ReviewScheduler, SchedulerConfig


def test_intervals_grow_with_repeated_success() -> None:
    scheduler = ReviewScheduler(SchedulerConfig(fuzz=False))
    now, row, intervals = START, None, []
    for _ in range(5):
        values = scheduler.review(row, True, now)
        intervals.append(values["due"] - now)
        row = type("Row", (), values)()  # attribute bag standing in for a ReviewState
        now = values["due"]
    assert all(b > a for a, b in zip(intervals, intervals[1:], strict=False))
    assert intervals[0] >= timedelta(days=1)


def test_wrong_answer_comes_back_before_right_one(quizzes: Quizzes, clock: FakeClock) -> None:
    learner = quizzes.learner("telegram", "s1", consent=True)
    question = quizzes.start_quiz(learner, module="conduct-rules", n=2)
    answers = {"eth-001": "A", "eth-002": "false"}  # eth-001 wrong, eth-002 right
    while question is not None:
        question = quizzes.answer(learner, answers[question.item_id], item_id=question.item_id).question
    assert quizzes.due_items(learner) == []
    with pytest.raises(NoQuestionsError) as info:
        quizzes.start_review(learner)
    assert info.value.next_due is not None and info.value.next_due - clock.now <= timedelta(hours=1)
    clock.advance(minutes=30)
    assert quizzes.due_items(learner) == ["eth-001"]
    assert [d.learner_id for d in quizzes.learners_due()] == [learner]
    review = quizzes.start_review(learner)
    assert review.item_id == "eth-001" and review.total == 1
    outcome = quizzes.answer(learner, "B", item_id="eth-001")
    assert outcome.correct and outcome.summary is not None and outcome.summary.kind == "review"
    assert quizzes.due_items(learner) == []
    clock.advance(days=3)
    assert set(quizzes.due_items(learner)) >= {"eth-002"}


def test_learners_due_respects_consent(quizzes: Quizzes, clock: FakeClock) -> None:
    yes = quizzes.learner("telegram", "s2", consent=True, language="hi")
    no = quizzes.learner("telegram", "s3")
    for learner in (yes, no):
        question = quizzes.start_quiz(learner, module="rti-for-pios", n=4)
        while question is not None:
            question = quizzes.skip(learner, item_id=question.item_id).question
    clock.advance(hours=1)
    due = quizzes.learners_due()
    assert [(d.learner_id, d.due_count, d.language) for d in due] == [(yes, 4, "hi")]
    assert {d.learner_id for d in quizzes.learners_due(consent_only=False)} == {yes, no}
    assert quizzes.learners_due(minimum=5) == []


def test_quiz_prefers_due_items(quizzes: Quizzes, clock: FakeClock) -> None:
    wrong = {"rti-001": "A", "rti-002": "false", "rti-003": "B", "rti-004": "the PIO"}
    learner = quizzes.learner("web", "s4")
    question = quizzes.start_quiz(learner, module="rti-for-pios", n=1)
    missed = question.item_id
    assert not quizzes.answer(learner, wrong[missed], item_id=missed).correct
    clock.advance(hours=2)
    assert quizzes.due_items(learner) == [missed]
    for _ in range(3):  # whatever the shuffle, the due item is asked first
        assert quizzes.start_quiz(learner, n=3).item_id == missed
