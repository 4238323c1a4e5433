"""Quiz sessions end to end through :class:`bot.quizzes.Quizzes` (SQLite; PostgreSQL in tests/postgres)."""

from __future__ import annotations

import pytest
from quiz_support import *  # noqa: F403  (pytest fixtures: db_url, clock, bank, quizzes)
from quiz_support import FakeClock, make_quizzes

from bot.quizzes import NoActiveQuizError, NoQuestionsError, Quizzes

RIGHT = {"rti-001": "B", "rti-002": "true", "rti-003": "A, C", "rti-004": "FAA", "eth-001": "B", "eth-002": "false"}
WRONG = {"rti-001": "A", "rti-002": "false", "rti-003": "B", "rti-004": "the PIO", "eth-001": "A", "eth-002": "yes"}


def test_full_quiz_with_right_and_wrong_answers(quizzes: Quizzes) -> None:
    learner = quizzes.learner("telegram", "p1")
    question = quizzes.start_quiz(learner, topic="RTI", n=4)
    assert question.number == 1 and question.total == 4
    assert "**Question 1 of 4**" in question.as_markdown()
    seen, results = [], []
    while question is not None:
        seen.append(question.item_id)
        wrong = question.item_id == "rti-003"
        outcome = quizzes.answer(learner, (WRONG if wrong else RIGHT)[question.item_id], item_id=question.item_id)
        assert outcome.recognised and not outcome.duplicate
        assert outcome.correct is (not wrong)
        results.append(outcome)
        question = outcome.question
    assert sorted(seen) == ["rti-001", "rti-002", "rti-003", "rti-004"]
    summary = results[-1].summary
    assert summary is not None and summary.status == "finished"
    assert (summary.correct, summary.answered, summary.skipped, summary.total) == (3, 4, 0, 4)
    assert summary.score == pytest.approx(0.75)
    by_comp = {c.name: (c.correct, c.answered) for c in summary.by_competency}
    assert by_comp == {"RTI Act": (2, 3), "Citizen service": (0, 1), "Appeals": (1, 1)}
    assert "3 of 4 correct" in summary.as_markdown()
    wrong = next(r for r in results if not r.correct)
    text = wrong.feedback_markdown()
    assert "Not quite" in text and "A. Application fee, C. Cost of copies" in text
    assert "📖 **Source:** modules/rti-for-pios.md — 2. Filing a request" in text
    assert quizzes.current_question(learner) is None
    with pytest.raises(NoActiveQuizError):
        quizzes.answer(learner, "A")


def test_stop_midway_and_resume_after_restart(db_url: str, bank, clock: FakeClock, quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "p2")
    first = quizzes.start_quiz(learner, module="rti-for-pios", n=4)
    out = quizzes.answer(learner, RIGHT[first.item_id], item_id=first.item_id)
    second = out.question
    paused = quizzes.stop(learner)
    assert paused is not None and paused.status == "stopped" and paused.answered == 1
    assert "3 questions left" in paused.as_markdown()
    assert quizzes.current_question(learner) is None
    assert quizzes.stop(learner) is None
    # A new service on the same database (a restart, or another replica) continues it.
    other = make_quizzes(db_url, bank, clock)
    try:
        resumed = other.resume(learner)
        assert resumed is not None and resumed.item_id == second.item_id and resumed.number == 2
        question = resumed
        while question is not None:
            question = other.answer(learner, RIGHT[question.item_id], item_id=question.item_id).question
        summary = other.summary(first.session_id)
        assert (summary.status, summary.correct, summary.answered) == ("finished", 4, 4)
        assert other.resume(learner) is None
    finally:
        other.engine.dispose()


def test_skip_and_unrecognised_replies(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "p3")
    question = quizzes.start_quiz(learner, module="rti-for-pios", n=4)
    while question.type != "single":
        question = quizzes.skip(learner, item_id=question.item_id).question
    again = quizzes.answer(learner, "E", item_id=question.item_id)
    assert not again.recognised and again.question == question
    assert "letter from A to D" in again.feedback_markdown()
    outcome = quizzes.skip(learner, item_id=question.item_id)
    assert outcome.skipped and not outcome.correct and "Skipped" in outcome.feedback_markdown()
    summary = quizzes.stop(learner) or quizzes.summary(question.session_id)
    assert summary.skipped >= 1 and summary.answered == 0
    data = quizzes.export(learner)
    assert all(a["skipped"] for a in data["attempts"])
    assert data["mastery"] == []  # skips are no evidence of mastery


def test_stale_button_is_not_applied_to_the_current_question(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "p4")
    question = quizzes.start_quiz(learner, module="conduct-rules", n=2)
    other = "eth-002" if question.item_id == "eth-001" else "eth-001"
    outcome = quizzes.answer(learner, "A", item_id=other)
    assert not outcome.recognised and outcome.question.item_id == question.item_id
    assert quizzes.export(learner)["attempts"] == []


def test_new_quiz_pauses_the_old_one_and_scopes(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "p5")
    old = quizzes.start_quiz(learner, module="rti-for-pios", n=2)
    new = quizzes.start_quiz(learner, documents=["policies/conduct-rules.md"], anchor="Rule 5. Politics", n=5)
    assert new.session_id != old.session_id and new.item_id == "eth-002" and new.total == 2
    assert quizzes.summary(old.session_id).status == "stopped"
    assert quizzes.current_question(learner).session_id == new.session_id
    with pytest.raises(NoQuestionsError):
        quizzes.start_quiz(learner, topic="astronomy")
    with pytest.raises(KeyError):
        quizzes.start_quiz(424242, n=1)


def test_buttons_payloads(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "p6")
    question = quizzes.start_quiz(learner, documents=["modules/rti-for-pios.md"], anchor="3. Time limits", n=1)
    if question.type == "single":
        assert question.buttons()[1] == {"title": "B", "payload": '/answer_quiz{"quiz_answer":"B"}'}
    else:
        assert question.buttons() == [
            {"title": "True", "payload": '/answer_quiz{"quiz_answer":"true"}'},
            {"title": "False", "payload": '/answer_quiz{"quiz_answer":"false"}'},
        ]
