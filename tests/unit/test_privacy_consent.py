"""Consent (DPDP Act): nothing about a learner is stored before they accept the privacy notice.

The actions run as the action server runs them (a tracker snapshot in, messages and events
out) over the real role model, quiz banks and a SQLite learner store.
"""

from __future__ import annotations

import asyncio

from rasa_sdk.events import SlotSet
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import run_action, tracker

from actions.plans import ActionShowPlan, ActionStartOnboarding
from actions.privacy import ActionRecordConsent
from actions.profile import ActionSaveProfile, ActionSetRole
from actions.quizzes import ActionCheckAnswer, ActionShowProgress, ActionStartQuiz
from bot.plans.service import Plans

NOTICE = {"response": "utter_privacy_notice"}


def run(action, state):
    return asyncio.run(run_action(action, state))


def notice_shown(messages: list[dict]) -> bool:
    return any(m.get("response") == NOTICE["response"] for m in messages)


def stored(plans: Plans, sender: str = "web-learner-1", channel: str = "socketio") -> int | None:
    return plans.find_learner(channel, sender)


def test_onboarding_and_its_check_question_store_nothing_before_consent(plans: Plans) -> None:
    messages, events = run(ActionStartOnboarding(plans), tracker(text="start onboarding", intent="start_onboarding",
                                                                 slots={"role": "new-recruit"}))
    assert notice_shown(messages) and events == []
    # Even a check question's slots left from elsewhere record no attempt.
    state = tracker(text="a", intent="answer_quiz", slots={"quiz_active": True, "quiz_item_id": "rti-fee-1"})
    messages, events = run(ActionCheckAnswer(plans.quizzes), state)
    assert notice_shown(messages) and SlotSet("quiz_active", False) in events
    assert stored(plans) is None


def test_profile_with_a_department_is_kept_in_the_conversation_only(plans: Plans) -> None:
    state = tracker(slots={"profile_role": "drawing-and-disbursing-officer",
                           "profile_department": "Department of Revenue, Room 12", "profile_language": "skip"})
    messages, events = run(ActionSaveProfile(plans), state)
    assert stored(plans) is None
    assert SlotSet("role", "drawing-and-disbursing-officer") in events  # still used in this conversation
    assert messages[0]["text"].startswith("Noted for this conversation")
    assert "have not stored" in messages[1]["text"] and notice_shown(messages)


def test_role_plan_quiz_and_progress_create_no_learner_row(plans: Plans) -> None:
    messages, events = run(ActionSetRole(plans), tracker(text="I am now a PIO", intent="set_role",
                                                         entities=[{"entity": "role_name", "value": "PIO"}]))
    assert events == [SlotSet("role", "public-information-officer")] and notice_shown(messages)
    messages, _ = run(ActionShowPlan(plans), tracker(text="show my plan", intent="show_plan",
                                                     slots={"role": "public-information-officer"}))
    assert "0 of 5 steps done" in messages[0]["text"]
    for action in (ActionStartQuiz(plans.quizzes, titles={}), ActionShowProgress(plans.quizzes, titles={})):
        messages, _ = run(action, tracker(text="quiz me", intent="quiz_me"))
        assert notice_shown(messages)
    assert stored(plans) is None


def test_declining_stores_nothing_and_accepting_keeps_the_role_given_before(plans: Plans) -> None:
    run(ActionRecordConsent(lambda: plans.quizzes), tracker(text="no thanks", intent="consent_decline"))
    assert stored(plans) is None
    run(ActionRecordConsent(lambda: plans.quizzes), tracker(text="I agree", intent="consent_accept",
                                                              slots={"role": "section-officer"}))
    learner = stored(plans)
    assert learner is not None and plans.profile(learner).role == "section-officer"
    # A later decline is not taken silently: it asks to confirm withdrawal
    # (test_privacy_withdrawal.py), which erases everything and stores nothing more.
    messages, _ = run(ActionRecordConsent(lambda: plans.quizzes), tracker(text="no thanks", intent="consent_decline"))
    assert [m.get("response") for m in messages] == ["utter_ask_withdraw_confirm"]


def test_no_onboarding_lesson_is_stored_or_handed_over_without_consent(plans: Plans, clock) -> None:
    """The onboarding writers (worker, turn hook, commands) check consent, not just the row.

    A learner row whose consent flag is off (how a decline used to leave a learner who had
    agreed, or an older database) must not get another lesson stored or marked delivered.
    """
    from sqlalchemy import select

    from actions.plans import ActionTurnStart
    from bot.background_worker import run_once
    from bot.privacy import record_consent
    from bot.store import session_factory, session_scope
    from bot.store.plans_models import OnboardingLesson

    learner = plans.quizzes.learner("socketio", "web-learner-1", consent=True)
    plans.onboarding.start(learner, role_id="new-recruit")
    assert run_once(plans, telegram=None).pending == 1  # day 1 waits for the learner's next turn
    record_consent(plans.quizzes, learner, False)

    messages, events = run(ActionTurnStart(plans), tracker(text="hello", intent="greet"))
    assert messages == [] and events == []
    clock.advance(days=3)
    assert run_once(plans, telegram=None).prepared == 0
    assert plans.onboarding.prepare(learner, force=True) is None
    messages, _ = run(ActionStartOnboarding(plans), tracker(text="start onboarding", intent="start_onboarding"))
    assert notice_shown(messages)
    with session_scope(session_factory(plans.quizzes.engine)) as s:
        lessons = s.scalars(select(OnboardingLesson).where(OnboardingLesson.learner_id == learner)).all()
        assert [(lesson.day, lesson.delivered_at) for lesson in lessons] == [(1, None)]
