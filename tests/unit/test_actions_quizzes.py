"""Quiz actions on tracker dicts with a real learner store (SQLite) and fixture banks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.quizzes import (
    ActionCheckAnswer,
    ActionResumeQuiz,
    ActionShowProgress,
    ActionSkipQuestion,
    ActionStartQuiz,
    ActionStartQuizOnThis,
    ActionStartReview,
    ActionStopQuiz,
    documents_titled,
)
from bot.knowledge.chunking import Chunk
from bot.quizzes import QuizBank, Quizzes
from bot.quizzes.cloze import clean
from bot.quizzes.passage_quiz import PassageQuizzes, passage_key

DATA = Path(__file__).resolve().parents[1] / "data" / "quizzes"
TITLES = {"modules/rti-for-pios.md": "RTI for Public Information Officers"}


@pytest.fixture
def quizzes(tmp_path: Path) -> Quizzes:
    bank, problems = QuizBank.load(DATA)
    assert not problems
    quizzes = Quizzes(f"sqlite:///{tmp_path / 'learners.db'}", bank, seed=3)
    quizzes.learner("socketio", "learner-q", consent=True)  # accepted the privacy notice
    return quizzes


def tracker(text: str = "", intent: str = "quiz_me", entities: list | None = None, **slots) -> Tracker:
    base = {"language": "en", "quiz_active": False, "quiz_item_id": None, "last_sources": None}
    base.update(slots)
    return Tracker.from_dict({
        "sender_id": "learner-q", "slots": base,
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []},
        "events": [{"event": "user", "text": text, "input_channel": "socketio",
                    "parse_data": {"intent": {"name": intent}, "entities": entities or []}}],
        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
    })


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None


async def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def wrong_answer(item) -> str:
    """A recognisable wrong answer for any item type."""
    if item.type == "single":
        return "ABCDEFGH"[(item.options.index(item.answer) + 1) % len(item.options)]
    return {"multiple": "B, D", "true_false": "false" if item.answer is True else "true",
            "short": "no idea at all"}[item.type]


def answer_entity(value: str) -> list[dict]:
    return [{"entity": "quiz_answer", "value": value}]


async def test_full_quiz_with_right_and_wrong_answers_then_summary(quizzes: Quizzes) -> None:
    messages, events = await run(ActionStartQuiz(quizzes, TITLES),
                                 tracker("quiz me on RTI", entities=[{"entity": "quiz_topic", "value": "RTI"}]))
    assert "**Question 1 of" in messages[-1]["text"]
    assert [b["title"] for b in messages[-1]["buttons"]][-2:] == ["Skip", "Stop quiz"]
    assert slot(events, "quiz_active") is True
    item_id = slot(events, "quiz_item_id")
    seen_right = seen_wrong = False
    for _ in range(10):
        item = quizzes.bank.get(item_id)
        correct = {"single": "B", "true_false": "true", "multiple": "A, C", "short": "FAA"}[item.type] \
            if item.id.startswith("rti") else "A"
        reply = correct if not seen_right else ("zzz" if item.type == "short" else ("false" if item.type == "true_false" else "D"))
        messages, events = await run(ActionCheckAnswer(quizzes, TITLES),
                                     tracker(reply, "answer_quiz", answer_entity(reply), quiz_active=True,
                                             quiz_item_id=item_id))
        feedback = messages[0]["text"]
        seen_right |= feedback.startswith("✅ **Correct!**")
        seen_wrong |= feedback.startswith("❌ **Not quite.**")
        if "📖 **Source:**" in feedback:
            assert "RTI for Public Information Officers —" in feedback  # cited by title, not path
        if slot(events, "quiz_active") is False:
            assert "Quiz finished" in messages[-1]["text"]
            break
        item_id = slot(events, "quiz_item_id")
    assert seen_right and seen_wrong


async def test_retried_answer_is_not_counted_twice(quizzes: Quizzes) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me"))
    item_id = slot(events, "quiz_item_id")
    t = tracker("A", "answer_quiz", answer_entity("A"), quiz_active=True, quiz_item_id=item_id)
    await run(ActionCheckAnswer(quizzes, TITLES), t)
    await run(ActionCheckAnswer(quizzes, TITLES), t)  # Rasa retried the same turn
    learner = quizzes.learner("socketio", "learner-q")
    assert quizzes.progress(learner).total_answered == 1


async def test_stop_mid_way_and_resume(quizzes: Quizzes) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me"))
    first = slot(events, "quiz_item_id")
    await run(ActionSkipQuestion(quizzes, TITLES), tracker("skip", "skip_question", quiz_active=True, quiz_item_id=first))
    messages, events = await run(ActionStopQuiz(quizzes, TITLES), tracker("stop quiz", "stop_quiz", quiz_active=True))
    assert "Quiz paused" in messages[0]["text"] and "resume quiz" in messages[0]["text"]
    assert SlotSet("quiz_active", False) in events
    messages, events = await run(ActionResumeQuiz(quizzes, TITLES), tracker("resume quiz", "resume_quiz"))
    assert messages[0]["text"].startswith("Welcome back")
    assert "**Question 2 of" in messages[1]["text"]
    assert slot(events, "quiz_active") is True


async def test_unrecognised_typed_answer_asks_again_without_recording(quizzes: Quizzes) -> None:
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz me"))
    item_id = slot(events, "quiz_item_id")
    messages, events = await run(ActionCheckAnswer(quizzes, TITLES),
                                 tracker("maybe E", "answer_quiz", quiz_active=True, quiz_item_id=item_id))
    item = quizzes.bank.get(item_id)
    if item.type != "short":  # a short answer accepts any text as an attempt
        # Read as an answer by the classifier but not readable: ask again (a question
        # typed mid-quiz is answered instead: tests/unit/test_quiz_flow.py).
        assert messages[0]["text"].startswith("Please answer")
        assert slot(events, "quiz_item_id") == item_id
        assert quizzes.progress(quizzes.learner("socketio", "learner-q")).total_answered == 0


async def test_quiz_on_this_uses_the_sources_just_shown(quizzes: Quizzes) -> None:
    messages, events = await run(ActionStartQuizOnThis(quizzes, TITLES),
                                 tracker("quiz me on this", "quiz_me_on_this", last_sources=["modules/rti-for-pios.md"]))
    assert slot(events, "quiz_active") is True
    assert quizzes.bank.get(slot(events, "quiz_item_id")).source_document == "modules/rti-for-pios.md"
    messages, events = await run(ActionStartQuizOnThis(quizzes, TITLES),
                                 tracker("quiz me on this", "quiz_me_on_this", last_sources=["modules/unknown.md"]))
    assert "no quiz questions on that passage" in messages[0]["text"]
    assert slot(events, "quiz_active") is False


async def test_review_and_progress_in_hindi(quizzes: Quizzes) -> None:
    messages, _ = await run(ActionStartReview(quizzes, TITLES), tracker("पुनरावृत्ति", "review", language="hi"))
    assert "दोहराने के लिए कुछ नहीं" in messages[0]["text"]
    _, events = await run(ActionStartQuiz(quizzes, TITLES), tracker("quiz", language="hi"))
    item = quizzes.bank.get(slot(events, "quiz_item_id"))
    messages, _ = await run(ActionCheckAnswer(quizzes, TITLES),
                            tracker("x", "answer_quiz", answer_entity(wrong_answer(item)), language="hi",
                                    quiz_active=True, quiz_item_id=item.id))
    assert messages[0]["text"].startswith("❌ **सही नहीं।**")
    messages, _ = await run(ActionShowProgress(quizzes, TITLES), tracker("मेरी प्रगति", "show_progress", language="hi"))
    assert messages[0]["text"].startswith("**आपकी प्रगति**")


async def test_no_quiz_before_the_privacy_notice_is_accepted(tmp_path: Path) -> None:
    bank, _ = QuizBank.load(DATA)
    fresh = Quizzes(f"sqlite:///{tmp_path / 'fresh.db'}", bank)
    dispatcher = CollectingDispatcher()
    events = await ActionStartQuiz(fresh, TITLES).run(dispatcher, tracker("quiz me"), {})
    assert dispatcher.messages[0]["response"] == "utter_privacy_notice"
    assert slot(events, "quiz_active") is False


async def test_answer_without_a_quiz_says_so(quizzes: Quizzes) -> None:
    messages, events = await run(ActionCheckAnswer(quizzes, TITLES), tracker("B", "answer_quiz", answer_entity("B")))
    assert "no quiz in progress" in messages[0]["text"]
    assert slot(events, "quiz_active") is False


# ---------------------------------------------------------------- "quiz me on this" on the passage shown

LEAVE_PASSAGE = Chunk(
    "leave-3", "modules/leave-basics.md", "Leave Rules", ["Casual leave"], "Casual leave",
    "Casual leave is eight days in a calendar year. It cannot be combined with earned leave. "
    "An application for leave must reach the Head of Office at least seven days before the leave begins. "
    "Compensatory off must be availed within 30 days of the holiday on which duty was performed.",
    meta={"module": "leave-basics", "language": "en"})
NO_FACTS = Chunk("ethos-1", "modules/ethos.md", "Ethos", ["Spirit"], "Spirit",
                 "Officers should listen carefully to citizens and treat every request with courtesy and care.",
                 meta={"module": "ethos", "language": "en"})


def on_passage(quizzes: Quizzes, cache: PassageQuizzes, chunk: Chunk | None) -> ActionStartQuizOnThis:
    return ActionStartQuizOnThis(quizzes, TITLES, passage=lambda _: chunk, passage_quizzes=cache,
                                 document_chunks=lambda source: [chunk] if chunk and source == chunk.source else [])


async def test_quiz_on_a_passage_without_bank_items_drafts_them_from_the_passage(quizzes: Quizzes,
                                                                                tmp_path: Path) -> None:
    cache = PassageQuizzes(tmp_path / "passages", today=lambda: dt.date(2026, 3, 2))
    assert not quizzes.bank.for_documents([LEAVE_PASSAGE.source])
    shown = tracker("quiz me on this", "quiz_me_on_this", last_sources=[LEAVE_PASSAGE.source])
    messages, events = await run(on_passage(quizzes, cache, LEAVE_PASSAGE), shown)
    assert "drafted automatically from the passage" in messages[0]["text"]
    assert messages[1]["text"].startswith("**Question 1 of") and "Fill in the blank:" in messages[1]["text"]
    item = quizzes.bank.get(slot(events, "quiz_item_id"))
    assert item is not None and item.source_document == LEAVE_PASSAGE.source
    assert clean(item.explanation) in clean(LEAVE_PASSAGE.text)  # asked from the passage itself
    cached = list((tmp_path / "passages").glob("*.yml"))
    assert [p.stem for p in cached] == [passage_key(LEAVE_PASSAGE)]

    # The drafted item is answered, scored and scheduled like any other.
    messages, events = await run(ActionCheckAnswer(quizzes, TITLES),
                                 tracker(item.answer, "answer_quiz", answer_entity(item.answer), quiz_active=True,
                                         quiz_item_id=item.id))
    assert messages[0]["text"].startswith("✅ **Correct!**")
    learner = quizzes.learner("socketio", "learner-q")
    assert quizzes.progress(learner).total_answered == 1

    # A restart (a fresh bank) finds the same items in the cache, without drafting again.
    bank, _ = QuizBank.load(DATA)
    assert item.id not in bank.by_id and item.id in bank.with_items(cache.all_items()).by_id
    again = PassageQuizzes(tmp_path / "passages", today=lambda: dt.date(2026, 3, 2))
    assert [i.id for i in again.items_for(LEAVE_PASSAGE, lambda: pytest.fail("drafted twice"))] \
        == [i.id for i in cache.items_for(LEAVE_PASSAGE)]


async def test_quiz_on_a_passage_with_bank_items_asks_those(quizzes: Quizzes, tmp_path: Path) -> None:
    anchored = next(i for i in quizzes.bank.items if i.source_document == "modules/rti-for-pios.md"
                    and i.source_anchor)
    passage = Chunk("rti-x", anchored.source_document, "RTI", [anchored.source_anchor], anchored.source_anchor,
                    "A passage of the RTI module.", meta={"language": "en"})
    cache = PassageQuizzes(tmp_path / "passages")
    messages, events = await run(on_passage(quizzes, cache, passage),
                                 tracker("quiz me on this", "quiz_me_on_this", last_sources=[passage.source]))
    asked = quizzes.bank.get(slot(events, "quiz_item_id"))
    assert asked.source_anchor == anchored.source_anchor and not asked.generated
    assert "drafted automatically" not in messages[0]["text"]


async def test_a_passage_with_nothing_to_ask_about_is_said_so(quizzes: Quizzes, tmp_path: Path) -> None:
    cache = PassageQuizzes(tmp_path / "passages")
    messages, events = await run(on_passage(quizzes, cache, NO_FACTS),
                                 tracker("quiz me on this", "quiz_me_on_this", last_sources=[NO_FACTS.source]))
    assert messages[0]["text"].startswith("I could not make quiz questions from this passage")
    assert "_quiz me on Ethos_" in messages[0]["text"]
    assert slot(events, "quiz_active") is False
    assert cache.items_for(NO_FACTS) == []  # cached as empty: the answer offers no button for it


@pytest.mark.parametrize("topic", ["right to information", "सूचना का अधिकार"])
async def test_a_topic_only_a_document_title_names_quizzes_on_that_document(quizzes: Quizzes, topic: str) -> None:
    # No quiz module, competency or question says "right to information"; the module's title does.
    titles = {"modules/rti-for-pios.md": "The Right to Information Act for Public Information Officers",
              "policies/conduct-rules.md": "Conduct Rules"}
    messages, events = await run(ActionStartQuiz(quizzes, titles),
                                 tracker(f"quiz me on {topic}", entities=[{"entity": "quiz_topic", "value": topic}]))
    assert slot(events, "quiz_active") is True, messages
    assert quizzes.bank.get(slot(events, "quiz_item_id")).module == "rti-for-pios"


async def test_a_topic_nothing_names_says_so(quizzes: Quizzes) -> None:
    messages, events = await run(ActionStartQuiz(quizzes, TITLES),
                                 tracker("quiz me on astronomy", entities=[{"entity": "quiz_topic", "value": "astronomy"}]))
    assert slot(events, "quiz_active") is not True and "no quiz" in messages[-1]["text"].lower()


def test_document_titles_are_matched_by_the_topic_or_any_of_its_english_terms() -> None:
    titles = {"modules/rti.md": "Right to Information: a guide", "modules/posh.md": "Preventing Sexual Harassment",
              "modules/leave.md": "Leave Rules"}
    assert documents_titled("सूचना का अधिकार", titles) == ["modules/rti.md"]  # "right to information, RTI"
    assert documents_titled("यौन उत्पीड़न", titles) == ["modules/posh.md"]
    assert documents_titled("sexual harassment", titles) == ["modules/posh.md"]
    assert documents_titled("astronomy", titles) == []
