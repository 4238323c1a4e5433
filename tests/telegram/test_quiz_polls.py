"""Multiple-choice questions as native Telegram quiz polls, and the per-language command menu.

The bridge runs for real against the fake Bot API. Instead of the stand-in's canned
replies, Rasa's side is played by the real quiz actions (``actions/quizzes.py``) on a real
learner store, with their messages split the way Rasa's REST channel splits them (text
and buttons, then the custom payload): so a vote travels poll -> bridge -> action ->
mastery and review schedule, and can be compared with a button press.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_bot_api import FakeBotApi
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from tg_harness import Harness

from actions.quizzes import ActionCheckAnswer, ActionSkipQuestion, ActionStartQuiz
from bot.channels.bridge_state import BridgeState, SentPoll
from bot.channels.telegram_bridge import BRIDGE_KEY, COMMANDS, _poll_after, command_menus
from bot.channels.telegram_format import quiz_poll_of
from bot.config import PROJECT_ROOT
from bot.i18n import t
from bot.quizzes import QuizBank, Quizzes

CHAT_A = 1001
CHAT_B = 2002
BANKS = Path(__file__).resolve().parents[1] / "data" / "quizzes"
TITLES = {"modules/rti-for-pios.md": "RTI for Public Information Officers"}
APOLOGY = t("telegram_apology")
STALE_POLL = t("telegram_stale_poll")
msg = FakeBotApi.message_update


class QuizActions:
    """Rasa's part for the quiz intents: the real actions, slots kept per sender.

    Each sender has its own learner store with the same seed, so two chats get the same
    questions in the same order.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bank, problems = QuizBank.load(BANKS)
        assert not problems
        self.quizzes_by_sender: dict[str, Quizzes] = {}
        self.slots: dict[str, dict[str, Any]] = {}

    def quizzes(self, sender: str) -> Quizzes:
        if sender not in self.quizzes_by_sender:
            quizzes = Quizzes(f"sqlite:///{self.folder / (sender + '.db')}", self.bank, seed=3)
            quizzes.learner("telegram", sender, consent=True)  # accepted the privacy notice
            self.quizzes_by_sender[sender] = quizzes
        return self.quizzes_by_sender[sender]

    def export(self, sender: str) -> dict[str, Any]:
        quizzes = self.quizzes(sender)
        return quizzes.export(quizzes.learner("telegram", sender))

    async def __call__(self, sender: str, message: str) -> list[dict[str, Any]]:
        quizzes = self.quizzes(sender)
        entities: list[dict[str, Any]] = []
        if message == "/quiz_me":
            action, intent = ActionStartQuiz(quizzes, TITLES), "quiz_me"
        elif message.startswith("/answer_quiz{"):
            value = json.loads(message[len("/answer_quiz"):])["quiz_answer"]
            action, intent = ActionCheckAnswer(quizzes, TITLES), "answer_quiz"
            entities = [{"entity": "quiz_answer", "value": value}]
        elif message == "/skip_question":
            action, intent = ActionSkipQuestion(quizzes, TITLES), "skip_question"
        else:
            return [{"text": f"You said: {message}"}]
        slots = self.slots.setdefault(sender, {"language": "en", "quiz_active": False, "quiz_item_id": None})
        tracker = Tracker.from_dict({
            "sender_id": sender, "slots": dict(slots),
            "latest_message": {"text": message, "intent": {"name": intent, "confidence": 1.0},
                               "entities": entities},
            "events": [{"event": "user", "text": message, "input_channel": "rest",
                        "parse_data": {"intent": {"name": intent}, "entities": entities}}],
            "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
        })
        dispatcher = CollectingDispatcher()
        for event in await action.run(dispatcher, tracker, {}):
            if event.get("event") == "slot":
                slots[event["name"]] = event["value"]
        return rest_messages(dispatcher.messages)


def rest_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Rasa's REST channel makes of dispatched messages: text (+ buttons), then custom."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.get("text"):
            out.append({"text": message["text"], **({"buttons": message["buttons"]} if message.get("buttons") else {})})
        if message.get("custom"):
            out.append({"custom": message["custom"]})
    return out


def inline_buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [row[0] for row in (params.get("reply_markup") or {}).get("inline_keyboard", [])]


def question_messages(h: Harness, chat: int) -> list[dict[str, Any]]:
    """Parameters of the questions sent to ``chat`` as text with buttons (they have Skip)."""
    return [c.params for c in h.tg.calls_to("sendMessage") if int(c.params["chat_id"]) == chat
            and any(b.get("callback_data") == "/skip_question" for b in inline_buttons(c.params))]


async def take_quiz(h: Harness, app: Any, actions: QuizActions, chat: int, choose: dict[str, int],
                    update_id: int) -> list[str]:
    """Answer a whole quiz in ``chat``: vote on polls, press answer buttons otherwise.

    ``choose`` maps an item id to the option index to pick; other items are skipped.

    Returns:
        The item ids asked, in order.
    """
    sender = app.bot_data[BRIDGE_KEY].sender_id(chat)
    asked: list[str] = []
    polls_used = 0
    h.tg.push_update(msg(update_id, chat, "/quiz"))
    for next_id in range(update_id + 1, update_id + 12):

        def settled() -> bool:
            slots = actions.slots.get(sender)
            if slots is None:
                return False
            shown = len(h.tg.poll_ids(chat)) + len(question_messages(h, chat))
            return not slots["quiz_active"] or shown > len(asked)

        await h.until(settled)
        if not actions.slots[sender]["quiz_active"]:
            return asked
        item = str(actions.slots[sender]["quiz_item_id"])
        asked.append(item)
        polls = h.tg.poll_ids(chat)
        if len(polls) > polls_used:
            polls_used += 1
            h.tg.push_update(FakeBotApi.poll_answer_update(next_id, polls[-1], chat, [choose[item]]))
            continue
        buttons = inline_buttons(question_messages(h, chat)[-1])
        pressed = buttons[choose[item]] if item in choose else buttons[-2]  # ..., Skip, Stop
        h.tg.push_update(FakeBotApi.callback_update(next_id, chat, pressed["callback_data"]))
    raise AssertionError("the quiz did not end")


@pytest.fixture
def actions(harness: Harness, tmp_path: Path) -> QuizActions:
    quiz_actions = QuizActions(tmp_path)
    harness.rasa.responder = quiz_actions
    return quiz_actions


def test_mcq_goes_as_a_quiz_poll_and_a_vote_is_recorded_like_a_button_press(
    harness: Harness, actions: QuizActions
) -> None:
    bank = actions.bank
    # Chat A: polls. Chat B: Telegram refuses polls there, so the same questions come as
    # text and buttons; B presses the button of the option A votes for.
    single = [i.id for i in bank.items if i.type == "single"]
    choose = {item: (0 if n % 2 else bank.get(item).options.index(bank.get(item).answer))
              for n, item in enumerate(single)}  # right, wrong, right, ...

    async def scenario(h: Harness) -> None:
        h.tg.refuse("sendPoll", CHAT_B)
        async with h.bridge() as app:
            asked_a = await take_quiz(h, app, actions, CHAT_A, choose, 100)
            asked_b = await take_quiz(h, app, actions, CHAT_B, choose, 200)
            sender_a, sender_b = (app.bot_data[BRIDGE_KEY].sender_id(chat) for chat in (CHAT_A, CHAT_B))
        assert asked_a == asked_b and any(i in choose for i in asked_a)
        polled = [i for i in asked_a if i in choose]

        # Each multiple-choice question went to chat A as one quiz poll, not as text with buttons.
        polls = h.tg.sent_polls(CHAT_A)
        assert len(polls) == len(polled)
        for call, item_id in zip(polls, polled, strict=True):
            item = bank.get(item_id)
            params = call.params
            assert params["type"] == "quiz" and params["is_anonymous"] is False
            assert [o["text"] for o in params["options"]] == list(item.options)
            assert params["correct_option_ids"] == [item.options.index(item.answer)]
            assert item.question in params["question"]
            assert [b["callback_data"] for b in inline_buttons(params)] == ["/skip_question", "/stop_quiz"]
        assert not any(bank.get(i).question in text for i in polled for text in h.tg.sent_texts(CHAT_A))
        # Answered polls lose their Skip/Stop buttons.
        retired = {int(c.params["message_id"]) for c in h.tg.calls_to("editMessageReplyMarkup")
                   if int(c.params["chat_id"]) == CHAT_A}
        assert {m["message_id"] for m in h.tg.polls if m["chat"]["id"] == CHAT_A} <= retired

        # Rasa got from each vote exactly what chat B's button press sent.
        def answers(sender: str) -> list[str]:
            return [m for s, m, _ in h.rasa.received if s == sender and m.startswith("/answer_quiz")]
        assert answers(sender_a) == answers(sender_b) and len(answers(sender_a)) == len(polled)

        # ... and the same attempts, mastery and review schedule were recorded.
        def recorded(sender: str) -> dict[str, Any]:
            data = actions.export(sender)
            return {
                "attempts": [(a["item_id"], a["correct"]) for a in data["attempts"]],
                "mastery": sorted((m["kind"], m["key"], m["attempts"], m["correct"]) for m in data["mastery"]),
                "review": sorted((r["item_id"], r["state"], r["step"], r["reps"], r["lapses"])
                                 for r in data["review_states"]),
            }
        a, b = recorded(sender_a), recorded(sender_b)
        assert a == b
        assert {item for item, _ in a["attempts"]} >= set(polled)
        assert {(item, correct) for item, correct in a["attempts"] if item in choose} == {
            (i, choose[i] == bank.get(i).options.index(bank.get(i).answer)) for i in polled}
        assert {r[0] for r in a["review"]} >= set(polled)

    harness.run(scenario)


def test_votes_that_are_not_the_learners_answer_to_the_waiting_question_are_not_taken(
    harness: Harness, actions: QuizActions
) -> None:
    first, second = actions.bank.get("eth-001"), actions.bank.get("rti-001")  # seed 3: the first two

    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/quiz"))
            await h.until(lambda: len(h.tg.poll_ids(CHAT_A)) == 1)
            poll_1 = h.tg.poll_ids(CHAT_A)[0]
            assert h.tg.polls[0]["poll"]["question"].endswith(first.question)
            # Someone the poll was forwarded to votes; a vote on an unknown poll; an option the
            # poll does not have: none of them reaches Rasa.
            h.tg.push_update(FakeBotApi.poll_answer_update(2, poll_1, 999, [0]))
            h.tg.push_update(FakeBotApi.poll_answer_update(3, "poll-unknown", CHAT_A, [0]))
            h.tg.push_update(FakeBotApi.poll_answer_update(4, poll_1, CHAT_A, [7]))
            # The learner skips with the button under the poll; the next question is a new poll.
            h.tg.push_update(FakeBotApi.callback_update(5, CHAT_A, "/skip_question", h.tg.polls[0]["message_id"]))
            await h.until(lambda: len(h.tg.poll_ids(CHAT_A)) == 2)
            poll_2 = h.tg.poll_ids(CHAT_A)[1]
            assert h.tg.polls[1]["poll"]["question"].endswith(second.question)
            # A late vote on the skipped question must not answer the waiting one.
            h.tg.push_update(FakeBotApi.poll_answer_update(6, poll_1, CHAT_A, [1]))
            await h.until(lambda: h.tg.sent_texts(CHAT_A).count(STALE_POLL) == 1)
            h.tg.push_update(FakeBotApi.poll_answer_update(7, poll_2, CHAT_A, [1]))  # "30 days": right
            await h.until(lambda: any(m.startswith("/answer_quiz") for m in h.rasa.messages()))
            # The same vote again (e.g. delivered twice under a new update id) is taken once.
            h.tg.push_update(FakeBotApi.poll_answer_update(8, poll_2, CHAT_A, [0]))
            await h.until(lambda: h.tg.sent_texts(CHAT_A).count(STALE_POLL) == 2)
        assert [m for m in h.rasa.messages() if m.startswith("/answer_quiz")] == ['/answer_quiz{"quiz_answer":"B"}']
        assert APOLOGY not in h.tg.sent_texts(CHAT_A)
        sender = h.rasa.received[0][0]
        attempts = [(a["item_id"], a["correct"]) for a in actions.export(sender)["attempts"]]
        assert attempts == [("eth-001", False), ("rti-001", True)]  # the skip, then the vote

    harness.run(scenario)


def test_only_a_question_with_a_fitting_poll_payload_becomes_a_poll() -> None:
    answers = ['/answer_quiz{"quiz_answer":"A"}', '/answer_quiz{"quiz_answer":"B"}']
    question = {"text": "Q", "buttons": [{"title": "A", "payload": answers[0]}, {"title": "B", "payload": answers[1]},
                                         {"title": "Skip", "payload": "/skip_question"}]}

    def poll(**changes: Any) -> dict[str, Any]:
        payload = {"item_id": "x-1", "question": "Which?", "options": ["yes", "no"], "correct_option_id": 1,
                   "answers": answers, **changes}
        return {"custom": {"quiz_poll": payload}}

    assert _poll_after([question, poll()], 0) is not None
    assert _poll_after([question, poll()], 1) is None  # the poll payload itself is not a question
    assert _poll_after([question], 0) is None
    assert _poll_after([{"text": "Q"}, poll()], 0) is None  # no buttons it could stand for
    assert _poll_after([question, poll(options=["yes", "n" * 101])], 0) is None  # option over 100
    assert _poll_after([question, poll(question="q" * 301)], 0) is None  # question over 300
    for broken in ({"correct_option_id": 2}, {"correct_option_id": True}, {"answers": answers[:1]},
                   {"options": ["yes", ""]}, {"item_id": ""}, {"question": None}):
        assert quiz_poll_of(poll(**broken)) is None, broken


def test_poll_text_too_long_for_telegram_goes_as_text_and_buttons(harness: Harness) -> None:
    answers = ['/answer_quiz{"quiz_answer":"A"}', '/answer_quiz{"quiz_answer":"B"}']
    long_question = "Which section applies? " + "x" * 300

    async def respond(sender: str, message: str) -> list[dict[str, Any]]:
        return [{"text": long_question, "buttons": [{"title": "A", "payload": answers[0]},
                                                    {"title": "B", "payload": answers[1]}]},
                {"custom": {"quiz_poll": {"item_id": "x-1", "question": long_question, "options": ["a", "b"],
                                          "correct_option_id": 0, "answers": answers}}}]

    harness.rasa.responder = respond

    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/quiz"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
        assert h.tg.sent_polls() == []
        assert h.tg.sent_texts(CHAT_A) == [long_question]
        assert [b["text"] for b in inline_buttons(h.tg.calls_to("sendMessage")[0].params)] == ["A", "B"]

    harness.run(scenario)


def test_web_learners_get_buttons_and_never_the_right_answer(actions: QuizActions) -> None:
    import asyncio

    quizzes = actions.quizzes("web-1")
    quizzes.learner("socketio", "web-1", consent=True)
    tracker = Tracker.from_dict({
        "sender_id": "web-1", "slots": {"language": "en"},
        "latest_message": {"text": "quiz me", "intent": {"name": "quiz_me"}, "entities": []},
        "events": [{"event": "user", "text": "quiz me", "input_channel": "socketio"}],
        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
    })
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionStartQuiz(quizzes, TITLES).run(dispatcher, tracker, {}))
    assert "buttons" in dispatcher.messages[-1]
    assert not any(m.get("custom") for m in dispatcher.messages)


def test_store_forgets_a_chats_polls_with_the_chat(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "telegram.db")
    state.remember_chat("tg-a", CHAT_A)
    state.put_poll(SentPoll("p1", CHAT_A, "tg-a", "eth-001", 5, ("/a", "/b")))
    assert state.get_poll("p1") == SentPoll("p1", CHAT_A, "tg-a", "eth-001", 5, ("/a", "/b"))
    assert state.claim_poll_answer(state.get_poll("p1")) and not state.claim_poll_answer(state.get_poll("p1"))
    assert state.forget_chat("tg-a")
    assert state.get_poll("p1") is None and state.latest_poll_item(CHAT_A) is None
    state.close()


def test_command_menu_is_published_in_english_and_per_language(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            pass
        menus = {c.params.get("language_code"): c.params["commands"] for c in h.tg.calls_to("setMyCommands")}
        assert set(menus) >= {None, "hi"}
        for code, commands in menus.items():
            assert [c["command"] for c in commands] == [c.name for c in COMMANDS]
            language = code or "en"
            assert [c["description"] for c in commands] == [t(f"menu_{c.name}", language) for c in COMMANDS]
        assert menus["hi"] != menus[None]
        assert t("menu_quiz", "hi") in [c["description"] for c in menus["hi"]]

    harness.run(scenario)


def test_menu_lists_every_capability_of_the_help_message() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for variant in domain["responses"]["utter_help"]:
        intents = {b["payload"].split("{")[0] for b in variant["buttons"] if b["payload"].startswith("/")}
        assert intents <= {c.intent for c in COMMANDS}, variant.get("condition")
    for code, commands in command_menus(["en", "hi", "xx-bad"]):
        assert code in (None, "hi")
        assert all(1 <= len(c.description) <= 256 for c in commands)
