"""Proactive delivery of onboarding lessons on both channels.

- Telegram: the worker pushes through the real bridge's ``/proactive`` endpoint (the
  real python-telegram-bot Application against the fake Bot API in tests/telegram).
- Web widget: the lesson waits, and ``action_turn_start`` hands it over at the
  learner's next turn, pointing the quiz slots at its check question.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from rasa_sdk.events import SlotSet
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import ROOT, FakeClock, run_action, tracker

from actions.plans import ActionTurnStart
from bot.background_worker import run_once
from bot.handoff.delivery import TelegramProactive
from bot.plans.service import Plans

sys.path.insert(0, str(ROOT / "tests" / "telegram"))
from fake_bot_api import FakeBotApi  # noqa: E402
from rasa_stand_in import RasaStandIn  # noqa: E402

TOKEN = "424242:TEST-token_for-the-fake-api"
ACTION_TOKEN = "test-action-token"
CHAT = 5005


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_web_lessons_wait_for_the_next_turn(plans: Plans, clock: FakeClock) -> None:
    learner = plans.learner("socketio", "web-recruit", consent=True)
    plans.onboarding.start(learner, role_id="new-recruit", send_time="08:00")
    result = run_once(plans, telegram=None)
    assert (result.prepared, result.pushed, result.pending) == (1, 0, 1)

    turn = ActionTurnStart(plans)
    messages, events = asyncio.run(run_action(turn, tracker("web-recruit", text="hello", intent="greet")))
    assert len(messages) == 1
    text = messages[0]["text"]
    assert text.startswith("📘 **Day 1 of 10: Conduct and Ethics") and "📖 **Source:** Conduct and Ethics" in text
    question = plans.quizzes.current_question(learner)
    assert question is not None and "Check your understanding:" in text
    assert SlotSet("quiz_item_id", question.item_id) in events and SlotSet("quiz_active", True) in events
    # Delivered once only; the next turn brings nothing new.
    again, _ = asyncio.run(run_action(turn, tracker("web-recruit", text="ok", slots={"quiz_item_id": question.item_id})))
    assert again == []
    assert plans.onboarding.status(learner).day == 1


def test_unknown_senders_are_not_created_by_the_turn_hook(plans: Plans) -> None:
    messages, events = asyncio.run(run_action(ActionTurnStart(plans), tracker("web-stranger", text="hi")))
    assert messages == [] and events == []
    assert plans.find_learner("socketio", "web-stranger") is None


def test_role_slot_is_restored_from_the_store(plans: Plans) -> None:
    learner = plans.learner("socketio", "web-so")
    plans.save_profile(learner, role="section-officer")
    _, events = asyncio.run(run_action(ActionTurnStart(plans), tracker("web-so", text="hi")))
    assert events == [SlotSet("role", "section-officer")]


@pytest.fixture
def bridge_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in {"TUTOR_STATE_DIR": str(tmp_path / "bridge-state"), "TELEGRAM_BOT_TOKEN": TOKEN,
                        "ACTION_SERVER_TOKEN": ACTION_TOKEN, "TELEGRAM_PROACTIVE_PORT": "0",
                        "RASA_TIMEOUT": "3", "TELEGRAM_WEBHOOK_SECRET": "", "TUTOR_PSEUDONYM_SALT": ""}.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_telegram_lessons_are_pushed_through_the_bridge(plans: Plans, bridge_env) -> None:
    from bot.channels.telegram_bridge import BRIDGE_KEY, build_application
    from bot.config import load_settings

    async def scenario() -> None:
        tg, rasa = FakeBotApi(TOKEN), RasaStandIn()
        await tg.start()
        await rasa.start()
        bridge_env.setenv("TELEGRAM_API_BASE_URL", tg.root)
        bridge_env.setenv("RASA_URL", rasa.url)
        app = build_application(load_settings())
        await app.initialize()
        try:
            await app.post_init(app)
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            await app.start()
            tg.push_update(FakeBotApi.message_update(1, CHAT, "hi"))  # the bridge learns the pseudonym
            await until(lambda: rasa.received and tg.sent_texts(CHAT))
            sender = rasa.received[0][0]
            learner = plans.learner("telegram", sender, consent=True)
            plans.onboarding.start(learner, role_id="new-recruit")
            port = app.bot_data[BRIDGE_KEY].proactive.port
            push = TelegramProactive(f"http://127.0.0.1:{port}/proactive", ACTION_TOKEN)
            before = len(tg.sent_texts(CHAT))
            # The push is blocking HTTP: run it off the loop that serves the bridge.
            result = await asyncio.to_thread(run_once, plans, push)
            assert (result.prepared, result.pushed, result.pending) == (1, 1, 0)
            await until(lambda: len(tg.sent_texts(CHAT)) > before)
            last = tg.calls_to("sendMessage")[-1].params
            assert int(last["chat_id"]) == CHAT
            assert last["text"].startswith("📘 <b>Day 1 of 10: Conduct and Ethics")
            question = plans.quizzes.current_question(learner)
            buttons = [b["callback_data"] for row in last.get("reply_markup", {}).get("inline_keyboard", [])
                       for b in row]
            if question.type in ("single", "true_false"):
                assert buttons and all(b.startswith("/answer_quiz") for b in buttons)
            assert plans.onboarding.take_pending(learner) == []  # nothing left for the next turn
        finally:
            if app.updater and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
            await app.post_shutdown(app)
            await rasa.stop()
            await tg.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_undeliverable_telegram_lessons_wait_for_the_next_turn(plans: Plans) -> None:
    learner = plans.learner("telegram", "tg-offline", consent=True)
    plans.onboarding.start(learner, role_id="new-recruit")
    dead = TelegramProactive("http://127.0.0.1:9/proactive", ACTION_TOKEN)  # nothing listens there
    result = run_once(plans, dead)
    assert (result.pushed, result.pending) == (0, 1)
    messages, _ = asyncio.run(run_action(ActionTurnStart(plans), tracker("tg-offline", text="hi", channel="rest")))
    assert len(messages) == 1 and messages[0]["text"].startswith("📘 **Day 1 of 10")


def test_one_call_per_turn_sets_the_language_and_hands_the_lesson_over_in_it(plans: Plans) -> None:
    learner = plans.learner("socketio", "web-hindi", consent=True)
    plans.onboarding.start(learner, role_id="new-recruit", send_time="08:00")
    run_once(plans, telegram=None)
    messages, events = asyncio.run(run_action(ActionTurnStart(plans), tracker("web-hindi", text="नमस्ते")))
    assert events[0] == SlotSet("language", "hi")  # detected from this very message...
    assert len(messages) == 1 and messages[0]["text"].startswith("📘 **दिन 1 / 10")  # ...and used for the lesson
    assert "अपनी समझ जाँचें:" in messages[0]["text"]


def test_a_failing_plans_part_still_sets_the_language(plans: Plans, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("learner store unreachable")

    monkeypatch.setattr(plans, "find_learner", broken)
    messages, events = asyncio.run(run_action(ActionTurnStart(plans), tracker("web-x", text="नमस्ते")))
    assert messages == [] and events == [SlotSet("language", "hi")]


def test_every_per_turn_slot_mapping_is_the_one_action() -> None:
    import yaml

    slots = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["slots"]
    actions = {mapping["action"] for slot in slots.values() for mapping in slot.get("mappings", [])
               if mapping.get("type") == "custom" and mapping.get("action")}
    # Rasa calls each distinct mapping action once per learner message: one round trip, not one per concern.
    assert actions == {"action_turn_start"}
