"""Length-bounded sessions (rasa_plugins/tracker_store.py), in the Rasa environment.

Run by ``make test-rasa`` with ``.venv-rasa/bin/python -m pytest --noconftest tests/rasa``:
real Rasa trackers, events and the in-memory and SQL (SQLite file) tracker stores, and
the SQL store on a real PostgreSQL that restarts (Debian's ``postgresql``, as in scaled mode).
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
    StaleTrackerError,
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


# ---------------------------------------------------------------- PostgreSQL restarts (issue #19)


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster (scaled mode's own helper), stopped at the end."""
    import secrets
    import shutil
    import socket
    import tempfile
    from pathlib import Path

    from bot.scaled.services import PostgresCluster, ServiceError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Not under pytest's tmp folder (mode 0700): the cluster runs as 'postgres' under root.
    root = Path(tempfile.mkdtemp(prefix="tutor-tracker-pg-"))
    root.chmod(0o755)
    cluster = PostgresCluster(root / "pg", port, "tutor", secrets.token_hex(8), databases=("rasa",), durable=False)
    try:
        cluster.init()
    except ServiceError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL (Debian's postgresql package) did not start: {exc}")
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


def _pg_store(cluster):
    """The scaled-mode store, wrapped as Rasa wraps every tracker store (fail-safe)."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    return FailSafeTrackerStore(RollingSQLTrackerStore(
        DOMAIN, dialect="postgresql", host="127.0.0.1", port=cluster.port, db="rasa",
        username=cluster.user, password=cluster.password, query={"connect_timeout": "5"}))


async def _hindi_learner_in_a_quiz(store, sender: str) -> None:
    """What Rasa's processor stores for a learner who chose Hindi and started a quiz."""
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for event in (ActionExecuted("action_session_start"), SessionStarted(), SlotSet("language", "hi"),
                  ActionExecuted(ACTION_LISTEN_NAME)):
        tracker.update(event)
    _turn(tracker, 1)
    tracker.update(SlotSet("quiz_active", True))
    await store.save(tracker)


@pytest.mark.parametrize("restart", range(5))
def test_after_a_database_restart_the_next_turn_reads_the_stored_conversation(postgres, restart):
    """The failover defect: the first read after a PostgreSQL restart came back empty.

    Rasa's fail-safe wrapper turned the dead pooled connection into "no conversation",
    the processor started a blank English session and saved its tail over the real one.
    """
    store = _pg_store(postgres)
    sender = f"restart-learner-{restart}"

    async def scenario() -> DialogueStateTracker:
        await _hindi_learner_in_a_quiz(store, sender)
        assert (await store.retrieve(sender)).get_slot("language") == "hi"  # a pooled connection now
        postgres.restart()  # every pooled connection is cut
        # The next turn, as the processor runs it: read (or create), then save what it appended.
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        _turn(tracker, 2)
        await store.save(tracker)
        return await store.retrieve(sender)

    stored = asyncio.run(scenario())
    assert stored.get_slot("language") == "hi" and stored.get_slot("quiz_active") is True
    assert [e.text for e in stored.events if isinstance(e, UserUttered)] == ["message 1", "message 2"]


def test_a_blank_tracker_is_never_saved_over_a_stored_conversation(postgres):
    """A turn that could not read the database (outage) must not overwrite what it missed."""
    sender = "outage-learner"
    store = _pg_store(postgres)
    raw = RollingSQLTrackerStore(DOMAIN, dialect="postgresql", host="127.0.0.1", port=postgres.port, db="rasa",
                                 username=postgres.user, password=postgres.password)

    async def scenario() -> tuple[DialogueStateTracker, DialogueStateTracker]:
        await _hindi_learner_in_a_quiz(store, sender)
        _turn(before := await store.retrieve(sender), 2)
        await store.save(before)
        # What the processor builds when the read failed: a new session with default slots.
        blank = DialogueStateTracker(sender, DOMAIN.slots)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted(ACTION_LISTEN_NAME)):
            blank.update(event)
        _turn(blank, 3)
        with pytest.raises(StaleTrackerError):
            await raw.save(blank)
        await store.save(blank)  # Rasa's fail-safe wrapper: logged, kept in memory only
        return before, await store.retrieve(sender)

    before, after = asyncio.run(scenario())
    assert [e.as_dict() for e in after.events] == [e.as_dict() for e in before.events]
    assert after.get_slot("language") == "hi"
