"""Progress summary: mastery, streak, due items, recent scores."""

from __future__ import annotations

import pytest
from quiz_support import *  # noqa: F403  (pytest fixtures: db_url, clock, bank, quizzes)
from quiz_support import FakeClock

from bot.quizzes import Quizzes

RIGHT = {"rti-001": "B", "rti-002": "true", "rti-003": "A, C", "rti-004": "FAA", "eth-001": "B", "eth-002": "false"}
WRONG = {"rti-001": "A", "rti-002": "false", "rti-003": "B", "rti-004": "the PIO", "eth-001": "A", "eth-002": "yes"}


def _quiz(quizzes: Quizzes, learner: int, module: str, wrong: set[str]) -> None:
    question = quizzes.start_quiz(learner, module=module, n=10)
    while question is not None:
        table = WRONG if question.item_id in wrong else RIGHT
        question = quizzes.answer(learner, table[question.item_id], item_id=question.item_id).question


def test_empty_progress(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "g0")
    progress = quizzes.progress(learner)
    assert (progress.total_answered, progress.streak_days, progress.items_due) == (0, 0, 0)
    assert "not answered any quiz questions" in progress.as_markdown()


def test_progress_summary(quizzes: Quizzes, clock: FakeClock) -> None:
    learner = quizzes.learner("telegram", "g1")
    _quiz(quizzes, learner, "rti-for-pios", wrong={"rti-003", "rti-004"})  # day 1: 2/4
    clock.advance(days=1)
    _quiz(quizzes, learner, "conduct-rules", wrong=set())  # day 2: 2/2
    clock.advance(days=1)
    _quiz(quizzes, learner, "rti-for-pios", wrong=set())  # day 3: 4/4
    progress = quizzes.progress(learner)
    assert progress.streak_days == 3
    assert (progress.total_answered, progress.total_correct, progress.items_seen) == (10, 8, 6)
    modules = {m.key: m for m in progress.modules}
    assert modules["conduct-rules"].score == pytest.approx(1.0)
    assert modules["conduct-rules"].level == "developing"  # 2 answers: too few to call mastered
    assert modules["rti-for-pios"].title == "RTI for PIOs - check your understanding"
    assert 0.5 < modules["rti-for-pios"].score < 1.0  # recent right answers outweigh older wrong ones
    comps = {c.key: c for c in progress.competencies}
    assert comps["Appeals"].attempts == 2 and comps["Appeals"].correct == 1
    assert comps["Appeals"].score > 0.5  # the right answer is the more recent one
    assert comps["Ethics"].level == "developing"  # 2 right answers: too few to call mastered
    assert [s.correct for s in progress.recent_sessions] == [4, 2, 2]
    assert progress.items_due == 0 and progress.next_due is not None
    text = progress.as_markdown()
    assert "8 of 10 answers right" in text and "3-day streak" in text and "Conduct rules basics: 100%" in text
    # A gap of two days breaks the streak; reviews fall due meanwhile.
    clock.advance(days=3)
    later = quizzes.progress(learner)
    assert later.streak_days == 0 and later.items_due > 0
