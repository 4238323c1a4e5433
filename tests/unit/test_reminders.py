"""Review reminders with a simulated clock: once a day, consent only, Telegram push or next turn."""

from __future__ import annotations

import asyncio
from typing import Any

from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_learning, plans)
from test_plans_fixtures import FakeClock, run_action, tracker

from actions.plans import ActionPlansTurn
from bot.learning import Learning, QuizItem
from bot.learning.banks import letter
from bot.learning.reminders import Reminders, reminder_message, run_once
from bot.plans.service import Plans


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


def with_due_reviews(learning: Learning, clock: FakeClock, channel: str, external_id: str, *,
                     consent: bool = True, language: str = "en") -> int:
    """A learner who skipped four RTI questions an hour ago (so they are due now)."""
    learner = learning.learner(channel, external_id, consent=consent, language=language)
    question = learning.start_quiz(learner, module="rti-for-pios", n=4)
    while question is not None:
        question = learning.skip(learner, item_id=question.item_id).question
    return learner


def test_due_learner_gets_exactly_one_reminder_a_day(kb_learning: Learning, clock: FakeClock) -> None:
    with_due_reviews(kb_learning, clock, "telegram", "tg-abc", language="hi")
    push = FakePush()
    assert run_once(kb_learning, push).prepared == 0  # nothing due yet
    clock.advance(hours=1)
    result = run_once(kb_learning, push)
    assert (result.prepared, result.pushed, result.pending) == (1, 1, 0)
    sender, text, buttons = push.sent[0]
    assert sender == "tg-abc" and "**4**" in text and "दोहराने" in text  # the learner's language
    assert buttons == [{"title": "अभी दोहराएँ", "payload": "/review"}]
    for _ in range(5):  # the worker polls every minute: still one reminder that day
        clock.advance(hours=2)
        assert run_once(kb_learning, push).prepared == 0
    assert len(push.sent) == 1
    clock.advance(days=1)  # next day, reviews still due
    assert run_once(kb_learning, push).pushed == 1 and len(push.sent) == 2


def test_no_consent_no_reminder(kb_learning: Learning, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_learning, clock, "telegram", "tg-quiet", consent=False)
    clock.advance(hours=1)
    push = FakePush()
    assert kb_learning.due_items(learner)  # due, but never agreed to be contacted
    assert run_once(kb_learning, push).prepared == 0 and push.sent == []
    assert Reminders(kb_learning).last_sent(learner) is None


def test_unreachable_bridge_leaves_the_reminder_for_the_next_turn(kb_learning: Learning, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_learning, clock, "telegram", "tg-down")
    clock.advance(hours=1)
    result = run_once(kb_learning, FakePush(up=False))
    assert (result.pushed, result.pending) == (0, 1)
    reminders = Reminders(kb_learning)
    assert reminders.take_pending(learner) == 4
    assert reminders.take_pending(learner) is None  # handed over once


def test_web_learner_gets_the_reminder_at_the_next_turn(plans: Plans, clock: FakeClock) -> None:
    learner = with_due_reviews(plans.learning, clock, "socketio", "web-due")
    clock.advance(hours=1)
    push = FakePush()
    assert run_once(plans.learning, push).pending == 1 and push.sent == []
    turn = ActionPlansTurn(plans)
    messages, _ = asyncio.run(run_action(turn, tracker("web-due", text="hello", intent="greet")))
    text, buttons = reminder_message(4, "en")
    assert [(m["text"], m["buttons"]) for m in messages] == [(text, buttons)]
    assert buttons[0]["payload"] == "/review" and buttons[0]["title"] == "Review now"
    again, _ = asyncio.run(run_action(turn, tracker("web-due", text="ok", intent="affirm")))
    assert again == []
    # Same day: no new reminder even though the reviews are still due.
    clock.advance(hours=3)
    assert run_once(plans.learning, push).prepared == 0
    assert plans.learning.due_items(learner)


def test_waiting_reminder_holds_during_a_quiz_and_is_dropped_when_reviews_are_done(
        plans: Plans, clock: FakeClock) -> None:
    learning = plans.learning
    learner = with_due_reviews(learning, clock, "socketio", "web-busy")
    clock.advance(hours=1)
    run_once(learning, None)
    learning.start_quiz(learner, module="leave-basics", n=1)  # a question waits for an answer
    turn = ActionPlansTurn(plans)
    messages, _ = asyncio.run(run_action(turn, tracker("web-busy", text="B", intent="answer_quiz")))
    assert not any("due for review" in (m.get("text") or "") for m in messages)
    learning.stop(learner)
    question = learning.start_review(learner, n=10)
    while question is not None:  # all reviews done right meanwhile: the reminder is moot
        question = learning.answer(learner, correct_response(learning.bank.get(question.item_id)),
                                   item_id=question.item_id).question
    assert learning.due_items(learner) == []
    messages, _ = asyncio.run(run_action(turn, tracker("web-busy", text="hi", intent="greet")))
    assert not any("due for review" in (m.get("text") or "") for m in messages)
    assert Reminders(learning).take_pending(learner) is None


def test_erasure_removes_the_reminder_row(kb_learning: Learning, clock: FakeClock) -> None:
    learner = with_due_reviews(kb_learning, clock, "telegram", "tg-erase")
    clock.advance(hours=1)
    run_once(kb_learning, FakePush())
    assert Reminders(kb_learning).last_sent(learner) == clock.now
    kb_learning.erase(learner)  # the row goes through ON DELETE CASCADE
    assert Reminders(kb_learning).last_sent(learner) is None
