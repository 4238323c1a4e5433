"""Tracker stores whose long conversations roll over into a fresh session.

Rasa hands the whole current session to every policy and, on every custom action,
serialises it to the action server; both costs grow with each turn, so a learner
doing a 60-question drill would get slower and slower replies. Rasa bounds a session
by time only (``session_expiration_time``). These stores also bound it by length:
when a session reaches ``TUTOR_SESSION_TURNS`` learner messages (default 15), the
store appends a new session at the end of a completed turn, exactly as an expired
session would start one, except that it carries over **every** slot and copies the
last ``TUTOR_SESSION_KEEP_TURNS`` turns (default 3) so that the policies, which look
at the last few turns, predict as before. Tracker stores fetch only the latest
session, so the work per message stays flat however long the conversation.

No rollover happens while a form is active (its history belongs to the form).

Configure in ``endpoints.yml``::

    tracker_store:
      type: rasa_plugins.tracker_store.RollingInMemoryTrackerStore

or, for PostgreSQL, ``rasa_plugins.tracker_store.RollingSQLTrackerStore`` with the
usual ``SQL`` keys. That store also keeps a conversation intact across a database
restart (see :class:`RollingSQLTrackerStore`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_plugins.erasure import forget_erased

logger = logging.getLogger(__name__)


def session_turns() -> int:
    """Learner messages per session before it rolls over (``TUTOR_SESSION_TURNS``)."""
    return max(2, int(os.environ.get("TUTOR_SESSION_TURNS", "15")))


def kept_turns() -> int:
    """Turns copied into the new session (``TUTOR_SESSION_KEEP_TURNS``)."""
    return max(1, min(int(os.environ.get("TUTOR_SESSION_KEEP_TURNS", "3")), session_turns() - 1))


def _session_start(events: list[Event]) -> int:
    """Index of the latest SessionStarted event (0 when there is none)."""
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], SessionStarted):
            return index
    return 0


def needs_rollover(tracker: DialogueStateTracker, max_turns: int) -> bool:
    """Whether the current session is long enough to roll over now.

    Only at the end of a completed turn (the bot is listening) and never inside a form.
    """
    events = list(tracker.events)
    if not events or tracker.active_loop_name:
        return False
    last = events[-1]
    if not (isinstance(last, ActionExecuted) and last.action_name == ACTION_LISTEN_NAME):
        return False
    turns = sum(isinstance(e, UserUttered) for e in events[_session_start(events):])
    return turns >= max_turns


def rollover_events(tracker: DialogueStateTracker, keep: int) -> list[Event]:
    """The events that start a new session continuing this one.

    Returns:
        ``action_session_start``, ``SessionStarted``, the slot values as they were
        before the kept turns, ``action_listen``, then copies of the last ``keep``
        turns (whose own SlotSet events bring the slots to their current values).
    """
    events = list(tracker.events)
    start = _session_start(events)
    user_turns = [i for i in range(start, len(events)) if isinstance(events[i], UserUttered)]
    window = user_turns[-keep] if len(user_turns) >= keep else start
    before = DialogueStateTracker.from_events(tracker.sender_id, events[start:window],
                                              slots=list(tracker.slots.values()))
    stamp = max(time.time(), events[-1].timestamp + 0.001)
    fresh: list[Event] = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=stamp),
                          SessionStarted(timestamp=stamp)]
    fresh += [SlotSet(name, slot.value, timestamp=stamp) for name, slot in before.slots.items()
              if slot.value != slot.initial_value]
    fresh.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=stamp))
    for event in events[window:]:
        copy = Event.from_parameters(event.as_dict())
        copy.timestamp = stamp
        fresh.append(copy)
    return fresh


class _RollingSessions:
    """Mixin for a Rasa tracker store: roll long sessions over on save."""

    async def save(self, tracker: DialogueStateTracker) -> None:  # noqa: D102 - see module docstring
        tracker = forget_erased(tracker)  # "delete my data": the conversation goes too
        if needs_rollover(tracker, session_turns()):
            for event in rollover_events(tracker, kept_turns()):
                tracker.update(event)
            logger.info("conversation rolled over into a new session after %d turns", session_turns())
        await super().save(tracker)  # type: ignore[misc]


class RollingInMemoryTrackerStore(_RollingSessions, InMemoryTrackerStore):
    """In-memory tracker store with length-bounded sessions (single-machine mode)."""


class StaleTrackerError(RuntimeError):
    """A tracker that was not read from the database would be written over a stored conversation."""


class RollingSQLTrackerStore(_RollingSessions, SQLTrackerStore):
    """SQL tracker store with length-bounded sessions (scaled mode, PostgreSQL).

    Rasa builds custom stores with ``host=<url>`` plus the endpoint's other keys, which
    are the SQL store's own parameters (dialect, port, db, username, password, query).

    **Why a database restart used to lose the learner's language** (the failover defect
    of issue #19). Rasa's SQL store keeps pooled connections without checking them. After
    PostgreSQL restarts, every pooled connection is dead, and the next ``retrieve`` on a
    replica fails; Rasa's ``FailSafeTrackerStore`` turns that failure into ``None``, so the
    processor starts a *new* session with default slots (English, no quiz) and answers
    from it. Its ``save`` then succeeds (the failed connection made SQLAlchemy drop the
    pool) and, because ``SQLTrackerStore`` appends "the tracker's events after the number
    already stored in the latest session", writes a misaligned tail of that blank session
    into the real conversation. A replica that served nobody since the restart shows it
    on its first turn - e.g. the survivor when the other Rasa replica is killed.

    Two fixes: the engine pings a pooled connection before using it (``pool_pre_ping``,
    SQLAlchemy's documented remedy), so a restart costs a reconnect instead of a lost
    read; and a save refuses a tracker whose session is not the stored latest session
    (it did not come from the database), so an outage turn can never overwrite what the
    learner had - Rasa's fail-safe wrapper logs the refusal and keeps that turn in memory.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Rasa builds its engine without pre-ping; rebuild it with the same URL and options.
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """Rasa's "events not stored yet", after checking the tracker continues the stored session.

        Raises:
            StaleTrackerError: the database holds a later session start than any in the
                tracker, i.e. the tracker was created blank after a failed read.
        """
        if len(tracker.events):
            stored = session.query(sa.func.max(self.SQLEvent.timestamp)).filter(
                self.SQLEvent.sender_id == tracker.sender_id,
                self.SQLEvent.type_name == SessionStarted.type_name,
            ).scalar()
            if stored is not None and not any(isinstance(e, SessionStarted) and e.timestamp == stored
                                              for e in tracker.events):
                # No sender id in the message: it may identify the learner (logs stay clean).
                raise StaleTrackerError("refusing to save a conversation that was not read from the "
                                        "database over the stored one (was the database unreachable?)")
        return super()._additional_events(session, tracker)
