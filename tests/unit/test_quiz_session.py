"""Quiz sessions end to end through :class:`bot.learning.Learning` (SQLite; PostgreSQL in tests/postgres)."""

from __future__ import annotations

import pytest
from learning_support import *  # noqa: F403  (pytest fixtures: db_url, clock, bank, learning)
from learning_support import FakeClock, make_learning

from bot.learning import Learning, NoActiveQuizError, NoQuestionsError

RIGHT = {"rti-001": "B", "rti-002": "true", "rti-003": "A, C", "rti-004": "FAA", "eth-001": "B", "eth-002": "false"}
WRONG = {"rti-001": "A", "rti-002": "false", "rti-003": "B", "rti-004": "the PIO", "eth-001": "A", "eth-002": "yes"}


def test_full_quiz_with_right_and_wrong_answers(learning: Learning) -> None:
    learner = learning.learner("telegram", "p1")
    question = learning.start_quiz(learner, topic="RTI", n=4)
    assert question.number == 1 and question.total == 4
    assert "**Question 1 of 4**" in question.as_markdown()
    seen, results = [], []
    while question is not None:
        seen.append(question.item_id)
        wrong = question.item_id == "rti-003"
        outcome = learning.answer(learner, (WRONG if wrong else RIGHT)[question.item_id], item_id=question.item_id)
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
    assert learning.current_question(learner) is None
    with pytest.raises(NoActiveQuizError):
        learning.answer(learner, "A")


def test_stop_midway_and_resume_after_restart(db_url: str, bank, clock: FakeClock, learning: Learning) -> None:
    learner = learning.learner("web", "p2")
    first = learning.start_quiz(learner, module="rti-for-pios", n=4)
    out = learning.answer(learner, RIGHT[first.item_id], item_id=first.item_id)
    second = out.question
    paused = learning.stop(learner)
    assert paused is not None and paused.status == "stopped" and paused.answered == 1
    assert "3 questions left" in paused.as_markdown()
    assert learning.current_question(learner) is None
    assert learning.stop(learner) is None
    # A new service on the same database (a restart, or another replica) continues it.
    other = make_learning(db_url, bank, clock)
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


def test_skip_and_unrecognised_replies(learning: Learning) -> None:
    learner = learning.learner("web", "p3")
    question = learning.start_quiz(learner, module="rti-for-pios", n=4)
    while question.type != "single":
        question = learning.skip(learner, item_id=question.item_id).question
    again = learning.answer(learner, "E", item_id=question.item_id)
    assert not again.recognised and again.question == question
    assert "letter from A to D" in again.feedback_markdown()
    outcome = learning.skip(learner, item_id=question.item_id)
    assert outcome.skipped and not outcome.correct and "Skipped" in outcome.feedback_markdown()
    summary = learning.stop(learner) or learning.summary(question.session_id)
    assert summary.skipped >= 1 and summary.answered == 0
    data = learning.export(learner)
    assert all(a["skipped"] for a in data["attempts"])
    assert data["mastery"] == []  # skips are no evidence of mastery


def test_stale_button_is_not_applied_to_the_current_question(learning: Learning) -> None:
    learner = learning.learner("web", "p4")
    question = learning.start_quiz(learner, module="conduct-rules", n=2)
    other = "eth-002" if question.item_id == "eth-001" else "eth-001"
    outcome = learning.answer(learner, "A", item_id=other)
    assert not outcome.recognised and outcome.question.item_id == question.item_id
    assert learning.export(learner)["attempts"] == []


def test_new_quiz_pauses_the_old_one_and_scopes(learning: Learning) -> None:
    learner = learning.learner("web", "p5")
    old = learning.start_quiz(learner, module="rti-for-pios", n=2)
    new = learning.start_quiz(learner, documents=["policies/conduct-rules.md"], anchor="Rule 5. Politics", n=5)
    assert new.session_id != old.session_id and new.item_id == "eth-002" and new.total == 2
    assert learning.summary(old.session_id).status == "stopped"
    assert learning.current_question(learner).session_id == new.session_id
    with pytest.raises(NoQuestionsError):
        learning.start_quiz(learner, topic="astronomy")
    with pytest.raises(KeyError):
        learning.start_quiz(424242, n=1)


def test_buttons_payloads(learning: Learning) -> None:
    learner = learning.learner("web", "p6")
    question = learning.start_quiz(learner, documents=["modules/rti-for-pios.md"], anchor="3. Time limits", n=1)
    if question.type == "single":
        assert question.buttons()[1] == {"title": "B", "payload": '/answer_quiz{"quiz_answer":"B"}'}
    else:
        assert question.buttons() == [
            {"title": "True", "payload": '/answer_quiz{"quiz_answer":"true"}'},
            {"title": "False", "payload": '/answer_quiz{"quiz_answer":"false"}'},
        ]
