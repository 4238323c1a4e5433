"""Conversations that flow: digressions mid-quiz, resuming after consent, quizzes in the
learner's language first, help listing every capability.

Actions run on tracker dicts with a real learner store (SQLite), the fixture quiz banks
and, for questions asked mid-quiz, a real retriever over a small knowledge folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import detect_language
from actions.knowledge import ActionAnswerQuestion
from actions.privacy import ActionRecordConsent
from actions.quizzes import (
    ActionCheckAnswer,
    ActionRepeatQuestion,
    ActionResumeRequest,
    ActionStartQuiz,
    ActionStopQuiz,
)
from bot.i18n import available_languages
from bot.knowledge.gate import Gate
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever
from bot.quizzes import QuizBank, Quizzes
from bot.quizzes.answers import looks_like_question, reads_as_answer
from bot.quizzes.quiz import item_language
from tests.conftest import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "quizzes"
TITLES = {"modules/rti-for-pios.md": "RTI for Public Information Officers"}
RIGHT = {"rti-001": "B", "rti-002": "true", "rti-003": "A, C", "rti-004": "FAA"}


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'learners.db'}")


@pytest.fixture
def quizzes(tmp_path: Path) -> Quizzes:
    bank, problems = QuizBank.load(DATA)
    assert not problems
    quizzes = Quizzes(f"sqlite:///{tmp_path / 'learners.db'}", bank, seed=3)
    quizzes.learner("socketio", "learner-f", consent=True)
    return quizzes


@pytest.fixture
def knowledge(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> ActionAnswerQuestion:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return ActionAnswerQuestion(Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}),
                                          check_interval=0))


def tracker(text: str, intent: str, entities: list | None = None, **slots) -> Tracker:
    base = {"language": "en", "quiz_active": False, "quiz_item_id": None, "last_sources": None,
            "pending_request": None}
    base.update(slots)
    return Tracker.from_dict({
        "sender_id": "learner-f", "slots": base,
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []},
        "events": [{"event": "user", "text": text, "input_channel": "socketio",
                    "parse_data": {"intent": {"name": intent}, "entities": entities or []}}],
        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
    })


def slot(events, name, default=None):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else default


async def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def answered(quizzes: Quizzes) -> int:
    return quizzes.progress(quizzes.learner("socketio", "learner-f")).total_answered


# ------------------------------------------------------------------ digressions


@pytest.mark.parametrize(("text", "intent"), [
    ("how do I get my course certificate?", "ask_question"),
    ("I forgot my iGOT password", "nlu_fallback"),
    ("What is the fee for an RTI application?", "ask_question"),
    ("आरटीआई आवेदन का शुल्क कितना है", "ask_question"),
])
async def test_a_question_mid_quiz_is_answered_and_every_item_waits(
        quizzes: Quizzes, knowledge: ActionAnswerQuestion, text: str, intent: str) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES),
                          tracker("quiz me on RTI", "quiz_me", [{"entity": "quiz_topic", "value": "RTI"}]))
    item_id = slot(events, "quiz_item_id")
    seen_types = set()
    for _ in range(len(RIGHT)):
        item = quizzes.bank.get(item_id)
        seen_types.add(item.type)
        check = ActionCheckAnswer(quizzes, TITLES, knowledge=knowledge)
        before = answered(quizzes)
        messages, events = await run(check, tracker(text, intent, quiz_active=True, quiz_item_id=item_id))
        texts = [m.get("text") or "" for m in messages]
        assert not any(x.startswith("Please answer") for x in texts), (item.type, texts)
        assert not any(x.startswith(("✅", "❌")) for x in texts), (item.type, texts)
        assert "Now, back to your question:" in texts, texts
        assert texts.index("Now, back to your question:") >= 1  # the question was handled first
        assert item.question in texts[-1]
        assert slot(events, "quiz_active") is True and slot(events, "quiz_item_id") == item_id
        assert answered(quizzes) == before  # nothing recorded for the digression
        # Then the learner answers the waiting question: it counts.
        messages, events = await run(check, tracker(RIGHT[item_id], "nlu_fallback", quiz_active=True,
                                                    quiz_item_id=item_id))
        assert messages[0]["text"].startswith("✅ **Correct!**"), messages[0]["text"]
        if slot(events, "quiz_active") is False:
            break
        item_id = slot(events, "quiz_item_id")
    assert seen_types == {"single", "true_false", "multiple", "short"}
    assert answered(quizzes) == 4


async def test_digression_answer_comes_from_the_knowledge_search(
        quizzes: Quizzes, knowledge: ActionAnswerQuestion) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me", "quiz_me"))
    item_id = slot(events, "quiz_item_id")
    messages, events = await run(ActionCheckAnswer(quizzes, TITLES, knowledge=knowledge),
                                 tracker("What is the fee for an RTI application?", "ask_question",
                                         quiz_active=True, quiz_item_id=item_id))
    assert "Rs 10" in messages[0]["text"] or "10" in messages[0]["text"], messages[0]
    assert slot(events, "last_query") == "What is the fee for an RTI application?"


async def test_repeat_question_after_help_and_nothing_after_the_quiz_ended(quizzes: Quizzes) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me", "quiz_me"))
    item_id = slot(events, "quiz_item_id")
    messages, events = await run(ActionRepeatQuestion(quizzes, TITLES),
                                 tracker("help", "help", quiz_active=True, quiz_item_id=item_id))
    assert messages[0]["text"] == "Now, back to your question:"
    assert quizzes.bank.get(item_id).question in messages[1]["text"]
    assert [b["title"] for b in messages[1]["buttons"]][-2:] == ["Skip", "Stop quiz"]
    assert slot(events, "quiz_item_id") == item_id
    await run(ActionStopQuiz(quizzes, TITLES), tracker("stop", "stop_quiz", quiz_active=True))
    messages, events = await run(ActionRepeatQuestion(quizzes, TITLES), tracker("👍", "feedback", quiz_active=True))
    assert messages == [] and slot(events, "quiz_active") is False


async def test_repeat_question_in_hindi(quizzes: Quizzes) -> None:
    await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me", "quiz_me", language="hi"))
    messages, _ = await run(ActionRepeatQuestion(quizzes, TITLES), tracker("मदद", "help", language="hi"))
    assert messages[0]["text"] == "अब आपके प्रश्न पर लौटते हैं:"


@pytest.mark.parametrize(("item_id", "reply", "expected"), [
    ("rti-001", "B", True), ("rti-001", "30 days", True), ("rti-001", "option c", True),
    ("rti-001", "how do I get my course certificate?", False), ("rti-001", "👍", False),
    ("rti-002", "true", True), ("rti-002", "galat", True), ("rti-002", "I forgot my iGOT password", False),
    ("rti-002", "is RTI free?", False),
    ("rti-004", "FAA", True), ("rti-004", "the PIO", True), ("rti-004", "it is the first appellate authority", True),
    ("rti-004", "I forgot my iGOT password", False), ("rti-004", "who decides an appeal?", False),
    ("rti-004", "RTI fee kitna hai", False),
])
def test_only_what_looks_like_an_answer_is_one(quizzes: Quizzes, item_id: str, reply: str, expected: bool) -> None:
    item = quizzes.bank.get(item_id)
    assert reads_as_answer(item, reply, marked_as_answer=False) is expected
    assert reads_as_answer(item, reply, marked_as_answer=True) is True  # a button or an answer_quiz intent


def test_looks_like_question() -> None:
    assert looks_like_question("how do I get my course certificate")
    assert looks_like_question("छुट्टी कितने दिन की है")
    assert not looks_like_question("30 days")
    assert not looks_like_question("First Appellate Authority")


# ------------------------------------------------------------------ after consent


async def test_quiz_asked_before_consent_starts_once_accepted(tmp_path: Path) -> None:
    bank, _ = QuizBank.load(DATA)
    fresh = Quizzes(f"sqlite:///{tmp_path / 'fresh.db'}", bank, seed=1)
    rti = [{"entity": "quiz_topic", "value": "RTI"}]
    messages, events = await run(ActionStartQuiz(fresh, TITLES), tracker("quiz me on RTI", "quiz_me", rti))
    assert messages[0]["response"] == "utter_privacy_notice"
    pending = slot(events, "pending_request")
    assert pending == {"intent": "quiz_me", "topic": "RTI"} and slot(events, "request_pending") is True
    accept = tracker("/consent_accept", "consent_accept", pending_request=pending, request_pending=True)
    await run(ActionRecordConsent(lambda: fresh), accept)
    messages, events = await run(ActionResumeRequest(fresh, TITLES), accept)
    assert "of **RTI**" in messages[0]["text"]
    assert "**Question 1 of" in messages[1]["text"]
    assert fresh.bank.get(slot(events, "quiz_item_id")).module == "rti-for-pios"
    assert slot(events, "quiz_active") is True and slot(events, "pending_request", "unset") is None
    assert slot(events, "request_pending") is False


async def test_declined_consent_forgets_the_request(tmp_path: Path) -> None:
    bank, _ = QuizBank.load(DATA)
    fresh = Quizzes(f"sqlite:///{tmp_path / 'fresh.db'}", bank)
    _, events = await run(ActionStartQuiz(fresh, TITLES), tracker("quiz me", "quiz_me"))
    decline = tracker("/consent_decline", "consent_decline", pending_request=slot(events, "pending_request"),
                      request_pending=True)
    await run(ActionRecordConsent(lambda: fresh), decline)
    messages, events = await run(ActionResumeRequest(fresh, TITLES), decline)
    assert messages == [] and slot(events, "pending_request", "unset") is None
    assert slot(events, "request_pending") is False and slot(events, "quiz_active") is None  # no quiz started
    messages, events = await run(ActionResumeRequest(fresh, TITLES), tracker("/consent_accept", "consent_accept"))
    assert messages == [] and events == []  # nothing pending: nothing to do


# ------------------------------------------------------------------ language of the quiz


@pytest.fixture
def course_quizzes(tmp_path: Path) -> Quizzes:
    bank, _ = QuizBank.load(ROOT / "knowledge_base" / "quizzes", base=ROOT / "knowledge_base")
    quizzes = Quizzes(f"sqlite:///{tmp_path / 'course.db'}", bank, seed=11)
    quizzes.learner("socketio", "learner-f", consent=True)
    return quizzes


@pytest.mark.parametrize("language", ["en", "hi"])
async def test_rti_quiz_is_drawn_from_the_learners_language_first(course_quizzes: Quizzes, language: str) -> None:
    rti = course_quizzes.bank.for_topic("RTI")
    assert {item_language(i) for i in rti} == {"en", "hi"}  # both banks match "RTI"
    for attempt in range(3):  # new quizzes too, not just the first draw
        _, events = await run(ActionStartQuiz(course_quizzes, {}),
                              tracker("quiz me on RTI", "quiz_me", [{"entity": "quiz_topic", "value": "RTI"}],
                                      language=language))
        learner = course_quizzes.learner("socketio", "learner-f")
        while (question := course_quizzes.current_question(learner)) is not None:
            assert item_language(course_quizzes.bank.get(question.item_id)) == language, (attempt, question.text)
            course_quizzes.skip(learner, item_id=question.item_id)


def test_other_languages_fill_a_quiz_when_the_learners_has_too_few(course_quizzes: Quizzes) -> None:
    learner = course_quizzes.learner("socketio", "learner-f")
    hindi = [i for i in course_quizzes.bank.for_topic("RTI") if item_language(i) == "hi"]
    question = course_quizzes.start_quiz(learner, topic="RTI", n=len(hindi) + 2, language="hi")
    assert question.total == len(hindi) + 2


# ------------------------------------------------------------------ Hinglish replies, help


@pytest.mark.parametrize("text", ["mujhe quiz do", "मुझे क्विज़ दो", "mujhe chutti ke niyam batao"])
def test_hinglish_and_hindi_requests_get_hindi_replies(text: str) -> None:
    assert detect_language(text) == "hi"


@pytest.mark.parametrize("text", ["what do I do now", "how do I get my course certificate?", "quiz me on RTI"])
def test_english_stays_english(text: str) -> None:
    assert detect_language(text) == "en"


def test_help_lists_every_capability_with_a_button_in_each_language() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    variants = domain["responses"]["utter_help"]
    assert {(v.get("condition") or [{}])[0].get("value", "en") for v in variants} == set(available_languages())
    wanted = {"/quiz_me", "/review", "/show_progress", "/show_plan", "/start_onboarding", "/request_trainer",
              "/export_my_data", "/delete_my_data"}
    for variant in variants:
        payloads = {b["payload"] for b in variant["buttons"]}
        assert wanted <= payloads, wanted - payloads
        assert any(p.startswith("/choose_language") for p in payloads)
        for payload in payloads:  # every button reaches an intent the bot knows
            if payload.startswith("/"):
                name = payload[1:].split("{")[0]
                assert name in {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    english = variants[0]["text"]
    for capability in ("Answer questions", "show more", "Quiz you", "Review", "progress", "learning plan",
                       "onboarding", "trainer", "Export", "delete", "**language** to choose"):
        assert capability in english, capability


async def test_a_reply_the_classifier_read_as_an_answer_is_checked_as_one(quizzes: Quizzes) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES),
                          tracker("quiz me on RTI", "quiz_me", [{"entity": "quiz_topic", "value": "RTI"}]))
    item = quizzes.bank.get(slot(events, "quiz_item_id"))
    assert item.type != "short"  # seed 3 starts with a choice item (a short item accepts any text)
    messages, _ = await run(ActionCheckAnswer(quizzes, TITLES),
                            tracker("Z", "answer_quiz", quiz_active=True, quiz_item_id=item.id))
    assert messages[0]["text"].startswith("Please answer")


async def test_a_retried_typed_last_answer_is_replayed_not_taken_for_a_question(
        quizzes: Quizzes, knowledge: ActionAnswerQuestion) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES),
                          tracker("quiz me on RTI", "quiz_me", [{"entity": "quiz_topic", "value": "RTI"}]))
    check = ActionCheckAnswer(quizzes, TITLES, knowledge=knowledge)
    while True:
        item_id = slot(events, "quiz_item_id")
        last = tracker(RIGHT[item_id], "nlu_fallback", quiz_active=True, quiz_item_id=item_id)
        _, events = await run(check, last)
        if slot(events, "quiz_active") is False:
            break
    messages, _ = await run(check, last)  # Rasa retried the turn that finished the quiz
    assert messages[0]["text"].startswith("✅ **Correct!**") and "Quiz finished" in messages[-1]["text"]
    assert answered(quizzes) == 4
