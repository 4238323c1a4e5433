""""Delete my data" empties the tracker store too (rasa_plugins/erasure.py), in the Rasa environment.

Run by ``make test-rasa``: real Rasa trackers and events, the project's in-memory and SQL
(SQLite file) tracker stores, and the same SQL ``DELETE`` the action runs in scaled mode.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    AllSlotsReset,
    BotUttered,
    Restarted,
    SlotSet,
    UserUttered,
)

from rasa_plugins.tracker_store import RollingInMemoryTrackerStore, RollingSQLTrackerStore

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [ask, confirm_delete_my_data]
slots:
  role: {type: text, mappings: [{type: custom}]}
responses:
  utter_ok: [{text: ok}]
actions: [action_delete_my_data]
""")
SECRET = "my GPF account number is 12345 and I work in Room 7"


def _user_turn(tracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "ask", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_ok"))
    tracker.update(BotUttered("ok"))
    tracker.update(SlotSet("role", "section-officer"))
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def _erase_turn(tracker) -> None:
    """What Rasa logs for /confirm_delete_my_data: the action, its reply and events, then listen."""
    tracker.update(UserUttered("/confirm_delete_my_data", {"name": "confirm_delete_my_data", "confidence": 1.0}))
    tracker.update(ActionExecuted("action_delete_my_data"))
    tracker.update(BotUttered("Done: I have deleted your data"))
    tracker.update(AllSlotsReset())
    tracker.update(Restarted())
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def _texts(tracker) -> list[str]:
    return [e.text for e in tracker.events if isinstance(e, (UserUttered, BotUttered))]


@pytest.mark.parametrize("kind", ["in-memory", "sql"])
def test_the_erased_conversation_is_not_kept_or_written_back(tmp_path, kind):
    db = tmp_path / "trackers.db"
    store = (RollingInMemoryTrackerStore(DOMAIN) if kind == "in-memory"
             else RollingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db)))

    async def converse():
        tracker = await store.get_or_create_tracker("learner-1")
        _user_turn(tracker, SECRET)
        await store.save(tracker)
        tracker = await store.retrieve("learner-1")
        assert SECRET in _texts(tracker)
        if kind == "sql":  # scaled mode: the action deletes the stored events before Rasa saves
            with sqlite3.connect(db) as conn:
                conn.execute("DELETE FROM events WHERE sender_id = 'learner-1'")
        _erase_turn(tracker)
        await store.save(tracker)
        return await store.retrieve("learner-1")

    after = asyncio.run(converse())
    assert SECRET not in _texts(after) and _texts(after) == []
    assert after.get_slot("role") is None
    if kind == "sql":
        with sqlite3.connect(db) as conn:
            rows = [r[0] for r in conn.execute("SELECT data FROM events WHERE sender_id = 'learner-1'")]
        assert rows and not any(SECRET in r or "section-officer" in r for r in rows)


def test_a_conversation_without_erasure_is_saved_whole():
    store = RollingInMemoryTrackerStore(DOMAIN)

    async def converse():
        tracker = await store.get_or_create_tracker("learner-2")
        _user_turn(tracker, "first")
        tracker.update(Restarted())  # a plain restart is not an erasure
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
        _user_turn(tracker, "second")
        await store.save(tracker)
        return await store.retrieve("learner-2")

    assert _texts(asyncio.run(converse())) == ["first", "ok", "second", "ok"]
