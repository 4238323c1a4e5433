"""Review reminders with a simulated clock: once a day, consent only, Telegram push or next turn."""

from __future__ import annotations

import asyncio
from typing import Any

from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import FakeClock, run_action, tracker

from actions.plans import ActionTurnStart
from bot.plans.service import Plans
from bot.quizzes import QuizItem, Quizzes
from bot.quizzes.banks import letter
from bot.quizzes.reminders import Reminders, reminder_message, run_once


class FakePush:
    """Records pushes like the bridge's /proactive endpoint; ``up=False`` simulates a bridge that is down."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.sent: list[tuple[str, str, list[dict[str, Any]]]] = []

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        if self.up:
            self.sent.append((sender, text, buttons or []))
        return self.up


def correct_response(item: QuizItem) -> str:
    """The right answer to an item, as a learner would type it."""
    if item.type == "true_false":
        return "true" if item.answer else "false"
    if item.type == "single":
        return letter(item.options.index(item.answer))
    if item.type == "multiple":
        return ",".join(letter(item.options.index(a)) for a in item.answer)
    return str(item.answer[0])


def with_due_reviews(quizzes: Quizzes, clock: FakeClock, channel: str, external_id: str, *,
                     consent: bool = True, language: str = "en") -> int:
    """A learner who skipped four RTI questions an hour ago (so they are due now)."""
    learner = quizzes.learner(channel, external_id, consent=consent, language=language)
    question = quizzes.start_quiz(learner, module="rti-for-pios", n=4)
    while question is not None:
        question = quizzes.skip(learner, item_id=question.item_id).question
    return learner


def test_due_learner_gets_exactly_one_reminder_a_day(kb_quizzes: Quizzes, clock: FakeClock) -> None:
    with_due_reviews(kb_quizzes, clock, "telegram", "tg-abc", language="hi")
    push = FakePush()
    assert run_once(kb_quizzes, push).prepared == 0  # nothing due yet
    clock.advance(hours=1)
    result = run_once(kb_quizzes, push)
    assert (result.prepared, result.pushed, result.pending) == (1, 1, 0)
    sender, text, buttons = push.sent[0]
    assert sender == "tg-abc" and "**4**" in text and "दोहराने" in text  # the learner's language
    assert buttons == [{"title": "अभी दोहराएँ", "payload": "/review"}]
    for _ in range(5):  # the worker polls every minute: still one reminder that day
        clock.advance(hours=2)
        assert run_once(kb_quizzes, push).prepared == 0
    assert len(push.sent) == 1
    clock.advance(days=1)  # next day, reviews still due
    assert run_once(kb_quizzes, push).pushed == 1 and len(push.sent) == 2


def test_no_consent_no_reminder(kb_quizzes: Quizzes, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_quizzes, clock, "telegram", "tg-quiet", consent=False)
    clock.advance(hours=1)
    push = FakePush()
    assert kb_quizzes.due_items(learner)  # due, but never agreed to be contacted
    assert run_once(kb_quizzes, push).prepared == 0 and push.sent == []
    assert Reminders(kb_quizzes).last_sent(learner) is None


def test_unreachable_bridge_leaves_the_reminder_for_the_next_turn(kb_quizzes: Quizzes, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_quizzes, clock, "telegram", "tg-down")
    clock.advance(hours=1)
    result = run_once(kb_quizzes, FakePush(up=False))
    assert (result.pushed, result.pending) == (0, 1)
    reminders = Reminders(kb_quizzes)
    assert reminders.take_pending(learner) == 4
    assert reminders.take_pending(learner) is None  # handed over once


def test_web_learner_gets_the_reminder_at_the_next_turn(plans: Plans, clock: FakeClock) -> None:
    learner = with_due_reviews(plans.quizzes, clock, "socketio", "web-due")
    clock.advance(hours=1)
    push = FakePush()
    assert run_once(plans.quizzes, push).pending == 1 and push.sent == []
    turn = ActionTurnStart(plans)
    messages, _ = asyncio.run(run_action(turn, tracker("web-due", text="hello", intent="greet")))
    text, buttons = reminder_message(4, "en")
    assert [(m["text"], m["buttons"]) for m in messages] == [(text, buttons)]
    assert buttons[0]["payload"] == "/review" and buttons[0]["title"] == "Review now"
    again, _ = asyncio.run(run_action(turn, tracker("web-due", text="ok", intent="affirm")))
    assert again == []
    # Same day: no new reminder even though the reviews are still due.
    clock.advance(hours=3)
    assert run_once(plans.quizzes, push).prepared == 0
    assert plans.quizzes.due_items(learner)


def test_waiting_reminder_holds_during_a_quiz_and_is_dropped_when_reviews_are_done(
        plans: Plans, clock: FakeClock) -> None:
    quizzes = plans.quizzes
    learner = with_due_reviews(quizzes, clock, "socketio", "web-busy")
    clock.advance(hours=1)
    run_once(quizzes, None)
    quizzes.start_quiz(learner, module="leave-basics", n=1)  # a question waits for an answer
    turn = ActionTurnStart(plans)
    messages, _ = asyncio.run(run_action(turn, tracker("web-busy", text="B", intent="answer_quiz")))
    assert not any("due for review" in (m.get("text") or "") for m in messages)
    quizzes.stop(learner)
    question = quizzes.start_review(learner, n=10)
    while question is not None:  # all reviews done right meanwhile: the reminder is moot
        question = quizzes.answer(learner, correct_response(quizzes.bank.get(question.item_id)),
                                   item_id=question.item_id).question
    assert quizzes.due_items(learner) == []
    messages, _ = asyncio.run(run_action(turn, tracker("web-busy", text="hi", intent="greet")))
    assert not any("due for review" in (m.get("text") or "") for m in messages)
    assert Reminders(quizzes).take_pending(learner) is None


def test_erasure_removes_the_reminder_row(kb_quizzes: Quizzes, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_quizzes, clock, "telegram", "tg-erase")
    clock.advance(hours=1)
    run_once(kb_quizzes, FakePush())
    assert Reminders(kb_quizzes).last_sent(learner) == clock.now
    kb_quizzes.erase(learner)  # the row goes through ON DELETE CASCADE
    assert Reminders(kb_quizzes).last_sent(learner) is None
