"""Knowledge actions on tracker snapshots: returned events and dispatcher messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import (
    ActionAnswerQuestion,
    ActionShowFullPassage,
    ActionShowMore,
    document_chunks,
    shown_passage,
)
from actions.quizzes import ActionStartQuizOnThis
from bot import wiring
from bot.knowledge.gate import Gate, GateModel
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever
from bot.quizzes import QuizBank, Quizzes
from tests.conftest import FakeEmbedder

SNAPSHOTS = Path(__file__).parent.parent / "data" / "trackers"


def load_tracker(name: str, **slot_overrides) -> Tracker:
    state = json.loads((SNAPSHOTS / name).read_text())
    state["slots"].update(slot_overrides)
    return Tracker.from_dict(state)


@pytest.fixture
def retriever(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Retriever:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'learners.db'}")


async def run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def test_answer_with_citation_and_buttons(retriever: Retriever) -> None:
    messages, events = await run(ActionAnswerQuestion(retriever), load_tracker("ask_rti_fee.json"))
    assert len(messages) == 1
    text = messages[0]["text"]
    assert "Rs. 10" in text and "📖 **Source:** RTI for Public Information Officers — 1. Fees" in text
    assert [b["payload"] for b in messages[0]["buttons"]][:2] == ["/show_more", "/show_full_passage"]
    assert [b["payload"] for b in messages[0]["buttons"]][-2:] == ['/feedback{"feedback": "up"}', '/feedback{"feedback": "down"}']
    assert SlotSet("last_query", "What fee does an RTI applicant pay?") in events
    assert SlotSet("last_sources", ["modules/rti.md"]) in events


async def test_off_topic_gets_the_not_covered_reply_in_hindi(retriever: Retriever) -> None:
    messages, events = await run(ActionAnswerQuestion(retriever), load_tracker("ask_off_topic_hindi.json"))
    assert "पाठ्य सामग्री में नहीं मिली" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_trainer"
    assert SlotSet("last_sources", []) in events


@pytest.fixture
def near_miss_retriever(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Retriever:
    """A gate that declines every question but finds each close enough to name the closest section."""
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    always_near = GateModel(("bm25_top",), (0.0,), (1.0,), (0.0,), bias=0.0, threshold=0.6,
                            embedders=("fake",), pointer_threshold=0.4)  # P = 0.5 for every question
    return Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate(model=always_near), check_interval=0)


async def test_near_miss_is_declined_with_the_closest_section_named(near_miss_retriever: Retriever) -> None:
    messages, events = await run(ActionAnswerQuestion(near_miss_retriever), load_tracker("ask_rti_fee.json"))
    text = messages[0]["text"]
    assert "could not find a direct answer" in text and "won't guess" in text
    assert "The closest section is **RTI for Public Information Officers — 1. Fees**" in text
    assert "Rs. 10" not in text and "📖" not in text  # named, never quoted as an answer
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/show_full_passage", "/request_trainer",
                                                            "/check_trainer_reply"]
    assert SlotSet("last_sources", []) in events


async def test_opening_the_closest_section_warns_it_may_not_answer(near_miss_retriever: Retriever) -> None:
    messages, _ = await run(ActionShowFullPassage(near_miss_retriever), load_tracker("after_answer.json"))
    text = messages[0]["text"]
    assert text.startswith("⚠️ This is the closest section I found. It may not answer your exact question:")
    assert "Applicants below the poverty line pay no fee." in text
    messages, events = await run(ActionShowMore(near_miss_retriever), load_tracker("after_answer.json"))
    assert messages[0]["text"].startswith("⚠️ This is the closest section")
    assert "Here is the next passage I found:" in messages[0]["text"] and SlotSet("answer_rank", 1.0) in events


async def test_a_plain_decline_offers_no_passage(retriever: Retriever) -> None:
    tracker = load_tracker("after_answer.json", last_query="who won the cricket match yesterday")
    messages, _ = await run(ActionShowFullPassage(retriever), tracker)
    assert messages[0]["text"].startswith("That is all I found")


async def test_very_long_message_is_refused_politely(retriever: Retriever) -> None:
    tracker = load_tracker("ask_rti_fee.json")
    tracker.latest_message["text"] = "RTI " * 2600
    messages, events = await run(ActionAnswerQuestion(retriever), tracker)
    assert "very long" in messages[0]["text"] and events == []


async def test_show_more_gives_the_next_passage(retriever: Retriever) -> None:
    messages, events = await run(ActionShowMore(retriever), load_tracker("after_answer.json"))
    assert messages[0]["text"].startswith("Here is the next passage I found:")
    assert SlotSet("answer_rank", 1.0) in events


async def test_show_more_without_a_question_asks_for_one(retriever: Retriever) -> None:
    messages, _ = await run(ActionShowMore(retriever), load_tracker("after_answer.json", last_query=None))
    assert "Ask me a question first" in messages[0]["text"]


async def test_full_passage_of_the_current_answer(retriever: Retriever) -> None:
    messages, _ = await run(ActionShowFullPassage(retriever), load_tracker("after_answer.json"))
    assert "Applicants below the poverty line pay no fee." in messages[0]["text"]


async def test_index_missing_gives_an_apology_not_an_exception(tmp_path: Path) -> None:
    empty = Retriever(tmp_path / "no-index", {"fake": FakeEmbedder()})
    messages, events = await run(ActionAnswerQuestion(empty), load_tracker("ask_rti_fee.json"))
    assert "cannot search it right now" in messages[0]["text"] and events == []


@pytest.fixture
def quizzes(tmp_path: Path) -> Iterator[Quizzes]:
    """A learner store whose banks have nothing on the fixture material (passages are drafted)."""
    service = Quizzes(f"sqlite:///{tmp_path / 'quiz.db'}", QuizBank([]), seed=3)
    service.learner("rest", "learner-1", consent=True)
    wiring.override(quizzes=service)
    yield service
    wiring.override(quizzes=None)
    service.engine.dispose()


async def test_quiz_me_on_this_asks_about_the_passage_just_shown(retriever: Retriever, quizzes: Quizzes,
                                                                tmp_path: Path) -> None:
    messages, events = await run(ActionAnswerQuestion(retriever), load_tracker("ask_rti_fee.json"))
    assert "/quiz_me_on_this" in [b["payload"] for b in messages[0]["buttons"]]
    cached = list((tmp_path / "state" / "passage_quizzes").glob("*.yml"))
    assert len(cached) == 1  # drafted once, when the answer was shown

    after = load_tracker("ask_rti_fee.json", last_query=slot(events, "last_query"), answer_rank=0.0,
                         last_sources=slot(events, "last_sources"))
    passage = shown_passage(after, retriever)
    assert passage is not None and "Rs. 10" in passage.text
    action = ActionStartQuizOnThis(quizzes, {}, passage=lambda t: shown_passage(t, retriever),
                                   document_chunks=lambda source: document_chunks(source, retriever))
    messages, events = await run(action, after)
    assert messages[1]["text"].startswith("**Question 1 of")
    item = quizzes.bank.get(slot(events, "quiz_item_id"))
    assert item is not None and item.explanation in passage.text and item.source_anchor == passage.anchor
    assert list((tmp_path / "state" / "passage_quizzes").glob("*.yml")) == cached  # from the cache


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None
