"""Withdrawing consent (DPDP Act): as easy as giving it, erases everything, stores nothing more.

The actions run as the action server runs them (a tracker snapshot in, messages and events
out) over the real role model, quiz banks, onboarding service and a SQLite store that
holds the learner tables and the human loop together.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import AllSlotsReset, Restarted
from sqlalchemy import func, select
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import FakeClock, run_action, tracker

from actions.plans import ActionStartOnboarding, ActionTurnStart
from actions.privacy import ActionDeleteMyData, ActionRecordConsent, asked_to_withdraw
from actions.quizzes import ActionStartQuiz
from bot.background_worker import run_once as deliver_lessons
from bot.handoff.records import HandoffRecords
from bot.plans.service import Plans
from bot.privacy import export_learner, has_consent
from bot.quizzes.data_rights import ALL_LEARNER_TABLES
from bot.quizzes.reminders import run_once as remind_once
from bot.store import session_factory, session_scope

SENDER = "web-learner-1"
NOTICE = "utter_privacy_notice"


@pytest.fixture(autouse=True)
def _local_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Erasure reads its settings: an empty knowledge folder, no SQL tracker, no bridge."""
    monkeypatch.setenv("TUTOR_KB_DIR", str(tmp_path / "kb"))
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)


def run(action: Any, state: Tracker) -> tuple[list[dict], list[Any]]:
    return asyncio.run(run_action(action, state))


def conversation(*turns: tuple[str, str], language: str = "en", sender: str = SENDER) -> Tracker:
    """A tracker whose events hold several learner messages (``(text, intent)``), the last one latest."""
    state = tracker(sender, text=turns[-1][0], intent=turns[-1][1], slots={"language": language}).current_state()
    state["events"] = [{"event": "user", "text": text, "input_channel": "socketio",
                        "parse_data": {"intent": {"name": intent}, "entities": []}} for text, intent in turns]
    return Tracker.from_dict(json.loads(json.dumps(state)))


def accept(plans: Plans, sender: str = SENDER) -> int:
    run(ActionRecordConsent(lambda: plans.quizzes), tracker(sender, text="I agree", intent="consent_accept"))
    learner = plans.find_learner("socketio", sender)
    assert learner is not None
    return learner


def rows_of(plans: Plans, learner: int) -> dict[str, int]:
    with session_scope(session_factory(plans.quizzes.engine)) as s:
        return {m.__table__.name: s.scalar(select(func.count()).select_from(m).where(m.learner_id == learner))
                for m in ALL_LEARNER_TABLES}


def a_learner_with_everything(plans: Plans, clock: FakeClock) -> int:
    """Accepted, on onboarding day 1, four reviews due with a reminder waiting, a question logged."""
    learner = accept(plans)
    messages, _ = run(ActionStartOnboarding(plans), tracker(text="start onboarding", intent="start_onboarding",
                                                            slots={"role": "new-recruit"}))
    assert "Day 1 of" in messages[1]["text"]
    question = plans.quizzes.start_quiz(learner, module="rti-for-pios", n=4)
    while question is not None:
        question = plans.quizzes.skip(learner, item_id=question.item_id).question
    clock.advance(hours=1)
    assert remind_once(plans.quizzes, None).pending == 1
    HandoffRecords(session_factory(plans.quizzes.engine)).log_question(SENDER, "socketio", "what is the RTI fee",
                                                                      answered=True)
    rows = rows_of(plans, learner)
    assert all(rows[t] for t in ("onboarding_tracks", "onboarding_lessons", "review_reminders", "attempts"))
    return learner


def test_withdrawal_erases_everything_and_nothing_more_is_stored_until_consent_again(
        plans: Plans, clock: FakeClock) -> None:
    learner = a_learner_with_everything(plans, clock)

    messages, events = run(ActionDeleteMyData(lambda: plans.quizzes),
                           conversation(("I withdraw my consent", "withdraw_consent"),
                                        ("/confirm_delete_my_data", "confirm_delete_my_data")))

    text = messages[0]["text"]
    assert text.startswith("Done: your consent is withdrawn") and "**I agree**" in text
    assert "still logged for your trainers" in text  # the question log needs no consent: said plainly
    assert events == [AllSlotsReset(), Restarted()]
    assert plans.find_learner("socketio", SENDER) is None
    assert set(rows_of(plans, learner).values()) == {0}
    exported = export_learner(plans.quizzes, "socketio", SENDER)
    assert exported["learner"] == {} and not any(exported["human_loop"].values())

    # Nothing more is stored: the next day's lesson, the turn hook, a quiz, onboarding.
    clock.advance(days=2)
    assert deliver_lessons(plans, None).prepared == 0 and remind_once(plans.quizzes, None).prepared == 0
    assert run(ActionTurnStart(plans), tracker(text="hello", intent="greet")) == ([], [])
    for action, intent in ((ActionStartQuiz(plans.quizzes, titles={}), "quiz_me"),
                           (ActionStartOnboarding(plans), "start_onboarding")):
        messages, _ = run(action, tracker(text="again", intent=intent))
        assert messages[0].get("response") == NOTICE
    assert plans.find_learner("socketio", SENDER) is None


def test_withdrawal_in_hindi_says_so_in_hindi(plans: Plans) -> None:
    accept(plans)
    messages, _ = run(ActionDeleteMyData(lambda: plans.quizzes),
                      conversation(("मेरी सहमति वापस लें", "withdraw_consent"),
                                   ("/confirm_delete_my_data", "confirm_delete_my_data"), language="hi"))
    assert messages[0]["text"].startswith("हो गया: आपकी सहमति वापस ले ली गई है")
    assert "**मैं सहमत हूँ**" in messages[0]["text"]
    assert plans.find_learner("socketio", SENDER) is None


def test_a_learner_who_agreed_and_now_declines_is_asked_to_withdraw_and_nothing_changes_yet(
        plans: Plans, clock: FakeClock) -> None:
    learner = a_learner_with_everything(plans, clock)
    before = rows_of(plans, learner)

    messages, events = run(ActionRecordConsent(lambda: plans.quizzes),
                           tracker(text="I do not agree", intent="consent_decline"))

    assert [m.get("response") for m in messages] == ["utter_ask_withdraw_confirm"] and events == []
    # Not withdrawn until confirmed (and on cancel, utter_delete_cancelled, nothing changes).
    assert has_consent(plans.quizzes, learner) and rows_of(plans, learner) == before
    messages, _ = run(ActionStartQuiz(plans.quizzes, titles={}), tracker(text="quiz me", intent="quiz_me"))
    assert messages[0].get("response") != NOTICE

    messages, _ = run(ActionDeleteMyData(lambda: plans.quizzes),
                      conversation(("I do not agree", "consent_decline"),
                                   ("/confirm_delete_my_data", "confirm_delete_my_data")))
    assert messages[0]["text"].startswith("Done: your consent is withdrawn")
    assert plans.find_learner("socketio", SENDER) is None


def test_a_decline_from_someone_never_stored_still_stores_nothing(plans: Plans) -> None:
    messages, _ = run(ActionRecordConsent(lambda: plans.quizzes), tracker(text="no", intent="consent_decline"))
    assert messages[0]["text"].startswith("Understood: I will not save your progress")
    assert plans.find_learner("socketio", SENDER) is None


def test_only_a_confirmed_withdrawal_is_worded_as_one() -> None:
    confirm = ("/confirm_delete_my_data", "confirm_delete_my_data")
    assert asked_to_withdraw(conversation(("consent wapas lena hai", "withdraw_consent"), confirm))
    assert not asked_to_withdraw(conversation(("delete my data", "delete_my_data"), confirm))
    assert not asked_to_withdraw(conversation(confirm))
