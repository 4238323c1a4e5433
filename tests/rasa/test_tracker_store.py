"""Length-bounded sessions (rasa_plugins/tracker_store.py), in the Rasa environment.

Run by ``make test-rasa`` with ``.venv-rasa/bin/python -m pytest --noconftest tests/rasa``:
real Rasa trackers, events and the in-memory and SQL (SQLite file) tracker stores.
"""

from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_plugins.tracker_store import (
    RollingInMemoryTrackerStore,
    RollingSQLTrackerStore,
    needs_rollover,
    rollover_events,
)

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [ask, answer]
slots:
  language: {type: text, mappings: [{type: custom}]}
  quiz_active: {type: bool, initial_value: false, mappings: [{type: custom}]}
  question_count: {type: float, initial_value: 0, mappings: [{type: custom}]}
responses:
  utter_ok: [{text: ok}]
""")


def _turn(tracker: DialogueStateTracker, number: int) -> None:
    tracker.update(UserUttered(f"message {number}", {"name": "answer" if number % 2 else "ask",
                                                     "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_ok"))
    tracker.update(BotUttered(f"reply {number}"))
    tracker.update(SlotSet("question_count", float(number)))
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def _conversation(turns: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events("learner-1", [ActionExecuted(ACTION_LISTEN_NAME)],
                                               slots=DOMAIN.slots)
    tracker.update(SlotSet("language", "hi"))
    tracker.update(SlotSet("quiz_active", True))
    for number in range(1, turns + 1):
        _turn(tracker, number)
    return tracker


def test_a_session_rolls_over_only_when_long_and_at_a_listening_point():
    assert not needs_rollover(_conversation(14), 15)
    long = _conversation(15)
    assert needs_rollover(long, 15)
    long.update(UserUttered("mid-turn", {"name": "ask", "confidence": 1.0}))
    assert not needs_rollover(long, 15)  # never in the middle of a turn
    in_form = _conversation(15)
    in_form.update(ActiveLoop("profile_form"))
    in_form.update(ActionExecuted(ACTION_LISTEN_NAME))
    assert not needs_rollover(in_form, 15)  # a form keeps its history


def test_the_new_session_keeps_every_slot_and_the_last_turns():
    tracker = _conversation(15)
    for event in rollover_events(tracker, keep=3):
        tracker.update(event)
    events = list(tracker.events)
    session = events[max(i for i, e in enumerate(events) if isinstance(e, SessionStarted)):]
    assert [e.text for e in session if isinstance(e, UserUttered)] == ["message 13", "message 14", "message 15"]
    assert tracker.get_slot("language") == "hi" and tracker.get_slot("quiz_active") is True
    assert tracker.get_slot("question_count") == 15.0
    assert tracker.latest_message.text == "message 15"
    assert isinstance(tracker.events[-1], ActionExecuted) and tracker.events[-1].action_name == ACTION_LISTEN_NAME
    # The policies see the same last turns as before the rollover.
    assert [e.action_name for e in session if isinstance(e, ActionExecuted)][-2:] == ["utter_ok", ACTION_LISTEN_NAME]


@pytest.mark.parametrize("make_store", [
    lambda tmp: RollingInMemoryTrackerStore(DOMAIN),
    lambda tmp: RollingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp / "trackers.db")),
], ids=["in-memory", "sql"])
def test_a_long_conversation_is_fetched_as_a_bounded_session(tmp_path, monkeypatch, make_store):
    monkeypatch.setenv("TUTOR_SESSION_TURNS", "10")
    monkeypatch.setenv("TUTOR_SESSION_KEEP_TURNS", "2")
    store = make_store(tmp_path)

    async def converse() -> list[int]:
        sizes = []
        tracker = await store.get_or_create_tracker("learner-1")
        tracker.update(SlotSet("language", "hi"))
        await store.save(tracker)
        for number in range(1, 61):
            tracker = await store.retrieve("learner-1")
            _turn(tracker, number)
            await store.save(tracker)
            sizes.append(len((await store.retrieve("learner-1")).events))
        return sizes

    sizes = asyncio.run(converse())
    # Each turn adds 5 events: unbounded, turn 60 would fetch 300+. A session holds at most
    # the kept turns plus the turns up to the next rollover, plus a short header.
    assert max(sizes) <= 5 * 10 + 10
    assert max(sizes[40:]) <= max(sizes[20:40])  # flat, not growing with the conversation
    final = asyncio.run(store.retrieve("learner-1"))
    assert final.get_slot("language") == "hi" and final.get_slot("question_count") == 60.0
    assert final.latest_message.text == "message 60"
