"""Forget a conversation in the tracker store when the learner erased their data.

``action_delete_my_data`` erases the learner's rows and returns ``Restarted``, but a
``Restarted`` event only hides earlier events from the policies: Rasa keeps them in the
tracker and saves them again. Without this, the in-memory store (one machine) would keep
the whole conversation while the reply says it was deleted, and the SQL store (scaled
mode) would write back every event of the session the action had just deleted, because
it appends the events it believes are missing. The tracker stores in
:mod:`rasa_plugins.tracker_store` pass each tracker through :func:`forget_erased` before
saving it.
"""

from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, Restarted
from rasa.shared.core.trackers import DialogueStateTracker

#: The action whose ``Restarted`` marks an erasure.
ERASE_ACTION = "action_delete_my_data"


def erasure_cut(tracker: DialogueStateTracker) -> int | None:
    """Index of the ``Restarted`` returned by the latest run of :data:`ERASE_ACTION`, or None.

    Rasa logs ``ActionExecuted`` before the action's own events, so the ``Restarted``
    follows it within the same action's events.
    """
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, ActionExecuted) and event.action_name == ERASE_ACTION:
            for after in range(index + 1, len(events)):
                if isinstance(events[after], Restarted):
                    return after
                if isinstance(events[after], ActionExecuted):  # the next action: no restart came
                    return None
            return None
    return None


def forget_erased(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """The tracker to save: from the erasure's ``Restarted`` on, or ``tracker`` unchanged.

    Args:
        tracker: The tracker Rasa is about to save.

    Returns:
        A new tracker holding only the events from the ``Restarted`` on (the erased
        conversation, including the confirmation that it was erased, is gone), or the
        same tracker when its latest erasure is not in it.
    """
    cut = erasure_cut(tracker)
    if cut is None:
        return tracker
    return DialogueStateTracker.from_events(tracker.sender_id, list(tracker.events)[cut:],
                                            slots=list(tracker.slots.values()),
                                            max_event_history=tracker._max_event_history)
