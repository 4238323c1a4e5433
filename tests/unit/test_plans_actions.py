"""Plan, profile and onboarding actions on tracker snapshots: messages, buttons, events, store."""

from __future__ import annotations

import asyncio

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import FakeClock, run_action, tracker

from actions.plans import (
    ActionNextStep,
    ActionOnboardingStatus,
    ActionPauseOnboarding,
    ActionSetLessonTime,
    ActionShowPlan,
    ActionStartOnboarding,
    ActionStopOnboarding,
)
from actions.profile import ActionAskProfileRole, ActionSaveProfile, ActionSetRole, ValidateProfileForm
from bot.plans.service import Plans


def run(action, state):
    return asyncio.run(run_action(action, state))


def role_entity(value: str) -> list[dict]:
    return [{"entity": "role_name", "value": value, "start": 0, "end": len(value)}]


def agree(plans: Plans, sender: str = "web-learner-1", channel: str = "socketio") -> int:
    """The learner accepts the privacy notice (their profile and progress may be stored)."""
    return plans.quizzes.learner(channel, sender, consent=True)


def test_set_role_from_an_abbreviation(plans: Plans) -> None:
    agree(plans)
    messages, events = run(ActionSetRole(plans), tracker(text="I am now a PIO", intent="set_role",
                                                        entities=role_entity("PIO")))
    assert events == [SlotSet("role", "public-information-officer")]
    assert messages[0]["text"].startswith("Done: your role is now **Public Information Officer**")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/show_plan", "/next_step"]
    learner = plans.find_learner("socketio", "web-learner-1")
    assert plans.profile(learner).role == "public-information-officer"


def test_set_role_in_hindi_offers_onboarding_to_a_new_recruit(plans: Plans) -> None:
    messages, events = run(ActionSetRole(plans), tracker(text="मैं नया कर्मचारी हूँ", intent="set_role",
                                                        entities=role_entity("नया कर्मचारी"),
                                                        slots={"language": "hi"}))
    assert events == [SlotSet("role", "new-recruit")]
    assert "**नया कर्मचारी**" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/start_onboarding"


def test_role_named_only_in_the_text_still_counts(plans: Plans) -> None:
    _, events = run(ActionSetRole(plans), tracker(text="main ab DDO hoon", intent="set_role"))
    assert events == [SlotSet("role", "drawing-and-disbursing-officer")]


def test_unclear_role_asks_for_confirmation_with_buttons(plans: Plans) -> None:
    messages, events = run(ActionSetRole(plans), tracker(text="I am secton officr", intent="set_role",
                                                        entities=role_entity("secton officr")))
    assert events == []
    assert messages[0]["text"] == "Did you mean one of these roles?"
    assert messages[0]["buttons"][0] == {"title": "Section Officer",
                                         "payload": '/set_role{"role_name":"section-officer"}'}


def test_change_my_role_without_a_name_lists_the_roles(plans: Plans) -> None:
    messages, events = run(ActionSetRole(plans), tracker(text="change my role", intent="set_role"))
    assert events == [] and messages[0]["text"].startswith("Which role do you hold now?")
    assert len(messages[0]["buttons"]) == 7


def test_role_button_payload_sets_the_role_by_id(plans: Plans) -> None:
    _, events = run(ActionSetRole(plans), tracker(text='/set_role{"role_name":"under-secretary"}',
                                                 intent="set_role", entities=role_entity("under-secretary")))
    assert events == [SlotSet("role", "under-secretary")]


def test_show_plan_without_a_role_asks_for_it(plans: Plans) -> None:
    messages, events = run(ActionShowPlan(plans), tracker(text="show my plan", intent="show_plan"))
    assert events == [] and messages[0]["text"].startswith("To build your plan I need to know your role")
    assert messages[0]["buttons"][0]["payload"].startswith("/set_role")


def test_show_plan_and_next_step_follow_quiz_results(plans: Plans) -> None:
    agree(plans)
    state = tracker(text="show my plan", intent="show_plan", slots={"role": "public-information-officer"})
    messages, _ = run(ActionShowPlan(plans), state)
    text = messages[0]["text"]
    assert text.startswith("**Your learning plan: Public Information Officer**\n0 of 5 steps done (0%).")
    first_next = text.rsplit("\n", 1)[-1]
    buttons = messages[0]["buttons"]
    assert buttons[0]["payload"].startswith('/quiz_me{"quiz_topic":') and buttons[-1]["payload"] == "/show_plan"

    # Master the module the plan put first; the next step moves on.
    learner = plans.find_learner("socketio", "web-learner-1")
    module = buttons[0]["payload"].split('"')[3]
    for _ in range(2):
        question = plans.quizzes.start_quiz(learner, module=module, n=20)
        while question is not None:
            item = plans.quizzes.bank.by_id[question.item_id]
            response = item.answer[0] if item.type == "short" else item.answer
            question = plans.quizzes.answer(learner, response, item_id=question.item_id).question
    messages, _ = run(ActionNextStep(plans), tracker(text="what next", intent="next_step",
                                                     slots={"role": "public-information-officer"}))
    assert messages[0]["text"].split("\n")[0] != first_next
    assert "1 of 5 steps done (20%)." in messages[0]["text"]


def test_next_step_in_hindi(plans: Plans) -> None:
    messages, _ = run(ActionNextStep(plans), tracker(text="अब मुझे क्या सीखना चाहिए", intent="next_step",
                                                     slots={"role": "section-officer", "language": "hi"}))
    assert messages[0]["text"].startswith("**अगला कदम:**")


def validate(plans: Plans, slot: str, value: str, **slots):
    form = ValidateProfileForm(plans)
    dispatcher = CollectingDispatcher()
    method = getattr(form, f"validate_{slot}")
    result = asyncio.run(method(value, dispatcher, tracker(text=value, slots=slots), {}))
    return result, dispatcher.messages


def test_profile_form_maps_skips_and_confirms(plans: Plans) -> None:
    assert validate(plans, "profile_role", "I'm the CPIO")[0] == {"profile_role": "public-information-officer",
                                                                  "role_candidates": None}
    assert validate(plans, "profile_role", "skip")[0]["profile_role"] == "skip"
    unsure, _ = validate(plans, "profile_role", "secton officr")
    assert unsure["profile_role"] is None and unsure["role_candidates"][0] == "section-officer"
    unknown, messages = validate(plans, "profile_role", "astronaut")
    assert unknown["profile_role"] is None and "could not match _astronaut_" in messages[0]["text"]
    assert validate(plans, "profile_department", "  Department of  Revenue ")[0] == {
        "profile_department": "Department of Revenue"}
    assert validate(plans, "profile_department", "बाद में")[0] == {"profile_department": "skip"}
    assert validate(plans, "profile_language", "हिंदी")[0] == {"profile_language": "hi", "language": "hi",
                                                              "language_chosen": True}
    assert validate(plans, "profile_language", "klingon")[0] == {"profile_language": None}


def test_ask_role_offers_the_candidates_after_an_unclear_answer(plans: Plans) -> None:
    messages, _ = run(ActionAskProfileRole(plans), tracker(slots={"role_candidates": ["section-officer",
                                                                                     "assistant-section-officer"]}))
    assert messages[0]["text"] == "Did you mean one of these roles?"
    assert [b["payload"] for b in messages[0]["buttons"]] == ["Section Officer", "Assistant Section Officer", "skip"]
    messages, _ = run(ActionAskProfileRole(plans), tracker())
    assert len(messages[0]["buttons"]) == 8 and messages[0]["text"].startswith("What is your role")


def test_save_profile_writes_the_store(plans: Plans) -> None:
    agree(plans)
    state = tracker(slots={"profile_role": "drawing-and-disbursing-officer",
                           "profile_department": "Department of Revenue", "profile_language": "hi"})
    messages, events = run(ActionSaveProfile(plans), state)
    assert SlotSet("role", "drawing-and-disbursing-officer") in events
    assert SlotSet("profile_role", None) in events
    assert "**पद:** आहरण एवं संवितरण अधिकारी" in messages[0]["text"]
    profile = plans.profile(plans.find_learner("socketio", "web-learner-1"))
    assert (profile.role, profile.department, profile.language) == ("drawing-and-disbursing-officer",
                                                                   "Department of Revenue", "hi")


def test_skipping_everything_saves_nothing(plans: Plans) -> None:
    messages, _ = run(ActionSaveProfile(plans), tracker(slots={"profile_role": "skip", "profile_department": "skip",
                                                               "profile_language": "skip"}))
    assert messages[0]["text"].startswith("No problem")
    assert plans.find_learner("socketio", "web-learner-1") is None


def test_onboarding_commands(plans: Plans, clock: FakeClock) -> None:
    agree(plans, "tg-recruit", "telegram")
    state = tracker("tg-recruit", text="start daily lessons at 7 pm", intent="start_onboarding",
                    entities=[{"entity": "onboarding_time", "value": "7 pm"}], slots={"role": "new-recruit"},
                    channel="rest")
    messages, events = run(ActionStartOnboarding(plans), state)
    assert messages[0]["text"].startswith("Your onboarding has started: one short lesson a day for 10 days at **19:00**")
    assert messages[1]["text"].startswith("📘 **Day 1 of 10:")
    assert SlotSet("quiz_active", True) in events
    learner = plans.find_learner("telegram", "tg-recruit")
    assert plans.onboarding.status(learner).day == 1

    messages, _ = run(ActionSetLessonTime(plans), tracker("tg-recruit", text="send my lesson at 6:30 am",
                                                          intent="set_lesson_time", channel="rest"))
    assert "**06:30**" in messages[0]["text"]
    messages, _ = run(ActionPauseOnboarding(plans), tracker("tg-recruit", intent="pause_onboarding", channel="rest"))
    assert "**paused** at day 1 of 10" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/resume_onboarding", "/stop_onboarding"]
    messages, _ = run(ActionStopOnboarding(plans), tracker("tg-recruit", intent="stop_onboarding", channel="rest"))
    assert "**stopped**" in messages[0]["text"]
    messages, _ = run(ActionOnboardingStatus(plans), tracker("tg-other", intent="onboarding_status", channel="rest"))
    assert messages[0]["text"].startswith("You have not started onboarding")
