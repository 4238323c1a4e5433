"""Human-loop actions on hand-made trackers with a HumanLoop on a temporary store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import ActionFeedback, feedback_buttons
from actions.handoff import (
    ActionDeliverTrainerReplies,
    ActionEndHandoff,
    ActionHandoffRelay,
    ActionRequestTrainer,
)
from tests.unit.handoff_support import WEEKEND, FakePush, make_loop


def tracker(sender: str = "web-1", text: str = "", slots: dict[str, Any] | None = None,
            entities: list[dict[str, Any]] | None = None, channel: str = "socketio") -> Tracker:
    events = [{"event": "user", "text": text, "input_channel": channel, "parse_data": {}}]
    return Tracker(sender, {"language": "en", **(slots or {})},
                   {"text": text, "intent": {"name": "x"}, "entities": entities or []}, events, False, None, None,
                   "action_listen")


async def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_request_in_hours_starts_a_silent_handoff(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    messages, events = await run(ActionRequestTrainer(loop), tracker(slots={"last_query": "APAR deadline?"}))
    assert "human trainer is answering" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/end_handoff"
    assert events == [SlotSet("handoff_active", True)]
    # During the handoff the relay says nothing...
    messages, events = await run(ActionHandoffRelay(loop), tracker(text="are you there?"))
    assert [m.get("custom") for m in messages] == [{"handoff": "relayed"}] and not messages[0].get("text")
    assert events == []
    # ...except to hand over what the trainer wrote.
    handoff = loop.records.active_handoff("web-1")
    loop.trainer_message(handoff["id"], "Hi, I am Asha", "asha")
    messages, _ = await run(ActionHandoffRelay(loop), tracker(text="ok"))
    assert "Hi, I am Asha" in messages[-1]["text"]
    messages, events = await run(ActionEndHandoff(loop), tracker(text="/end_handoff"))
    assert "back" in messages[-1]["text"] and events == [SlotSet("handoff_active", False)]


async def test_trainer_ending_the_chat_gives_the_bot_back(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    await run(ActionRequestTrainer(loop), tracker(slots={"last_query": "q"}))
    loop.end_by_trainer(loop.records.active_handoff("web-1")["id"], "asha")
    messages, events = await run(ActionHandoffRelay(loop), tracker(text="hello?"))
    assert events == [SlotSet("handoff_active", False)]
    assert "closed the chat" in " ".join(m["text"] for m in messages)


async def test_request_out_of_hours_says_when(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path, now=WEEKEND)
    messages, events = await run(ActionRequestTrainer(loop), tracker(slots={"last_query": "Pension rules?"}))
    assert events == []
    text = messages[0]["text"]
    assert "Mon-Fri 09:30-17:30 IST" in text and "Mon 30 Nov, 09:30 IST" in text and "Pension rules?" in text


async def test_deliver_trainer_replies(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    messages, _ = await run(ActionDeliverTrainerReplies(loop), tracker())
    assert "No reply from a trainer yet" in messages[0]["text"]
    ref = loop.record_unanswered("web-1", "Yoga leave?", [], "socketio")
    loop.answer_item(ref, "Two days.", "asha", add_to_kb=False)
    messages, _ = await run(ActionDeliverTrainerReplies(loop), tracker())
    assert "Two days." in messages[-1]["text"]


async def test_feedback_stores_rating_with_sources(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path, push=FakePush())
    slots = {"last_query": "RTI fee?", "last_sources": ["modules/rti.md"]}
    messages, _ = await run(ActionFeedback(loop), tracker(slots=slots, entities=[{"entity": "feedback",
                                                                                 "value": "down"}]))
    assert "passed this answer to the trainers" in messages[0]["text"]
    item = loop.records.list_items(kind="thumbs_down")[0]
    assert item.question == "RTI fee?" and item.sources == ["modules/rti.md"]
    messages, _ = await run(ActionFeedback(loop), tracker(slots=slots, entities=[{"entity": "feedback",
                                                                                 "value": "up"}]))
    assert "glad" in messages[0]["text"]
    messages, _ = await run(ActionFeedback(loop), tracker(entities=[{"entity": "feedback", "value": "up"}]))
    assert "no answer to rate" in messages[0]["text"]
    assert [b["payload"] for b in feedback_buttons("hi")] == ['/feedback{"feedback": "up"}',
                                                              '/feedback{"feedback": "down"}']
