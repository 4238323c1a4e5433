"""Handing a learner over to a human trainer, and bringing trainers' replies back.

- ``action_request_trainer``: queue the question; in office hours start a live handoff
  (slot ``handoff_active``; ``rasa_plugins.handoff_policy`` then routes every message to
  ``action_handoff_relay``), out of hours say when to expect an answer.
- ``action_handoff_relay``: during a handoff, pass the message to the trainers and stay
  quiet, except to hand over trainer messages still waiting (web/REST learners).
- ``action_end_handoff``: the learner goes back to the bot.
- ``action_deliver_trainer_replies``: hand over any waiting trainer answers.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, latest_text
from bot.i18n import t

log = logging.getLogger(__name__)
#: Custom payload sent instead of a reply while a trainer has the chat (see bot/channels/telegram_bridge.py).
RELAYED_MARKER = {"handoff": "relayed"}


class HumanLoopAction(Action, abc.ABC):
    """Base with an injectable :class:`bot.handoff.HumanLoop` (abstract: rasa_sdk skips it)."""

    def __init__(self, loop: Any = None) -> None:
        self._loop = loop

    @property
    def loop(self):  # -> bot.handoff.HumanLoop
        """The human loop (the injected one, else the process-wide one, opened on first use)."""
        if self._loop is not None:
            return self._loop
        from bot.wiring import get_human_loop  # lazy: opens the database on first use

        return get_human_loop()

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""


def _utter_pending(dispatcher: CollectingDispatcher, messages: list[str], language: str) -> None:
    if messages:
        dispatcher.utter_message(text=t("handoff_pending_intro", language))
    for text in messages:
        dispatcher.utter_message(text=text)


class ActionRequestTrainer(HumanLoopAction):
    """Queue the learner's last question for a trainer and tell them what happens next."""

    def name(self) -> str:
        return "action_request_trainer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        question = tracker.get_slot("last_query") or ""
        request = self.loop.request_trainer(tracker.sender_id, question, tracker.get_latest_input_channel() or "",
                                            language)
        if request.live:
            dispatcher.utter_message(text=t("handoff_live_started", language, ref=request.ref),
                                     buttons=[button(t("button_end_handoff", language), "/end_handoff")])
            return [SlotSet("handoff_active", True)]
        question_part = t("trainer_request_question_part", language, question=question) if question else ""
        expect = request.expect.strftime("%a %d %b, %H:%M IST") if request.expect else ""
        dispatcher.utter_message(
            text=t("handoff_out_of_hours", language, hours=request.hours, ref=request.ref,
                   question_part=question_part, expect=expect),
            buttons=[button(t("button_check_trainer_reply", language), "/check_trainer_reply")])
        return []


class ActionHandoffRelay(HumanLoopAction):
    """During a live handoff: relay the learner's message, reply only with trainer messages."""

    def name(self) -> str:
        return "action_handoff_relay"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        result = self.loop.relay(tracker.sender_id, latest_text(tracker))
        _utter_pending(dispatcher, result.pending, language)
        if result.active:
            if not result.pending:
                # Silent marker: channels show nothing, but the Telegram bridge learns the silence
                # is intended (otherwise it tells the learner it has no answer).
                dispatcher.utter_message(json_message=RELAYED_MARKER)
            return []  # the bot stays quiet: a human is answering
        # The trainer ended the chat since this learner last wrote: the tutor is back.
        dispatcher.utter_message(text=t("handoff_relay_ended_by_trainer", language))
        return [SlotSet("handoff_active", False)]


class ActionEndHandoff(HumanLoopAction):
    """The learner ends the live chat with the trainer."""

    def name(self) -> str:
        return "action_end_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        ended = self.loop.end_by_learner(tracker.sender_id)
        _utter_pending(dispatcher, self.loop.pending_for(tracker.sender_id), language)
        dispatcher.utter_message(text=t("handoff_ended_by_learner" if ended else "handoff_no_active", language))
        return [SlotSet("handoff_active", False)]


class ActionDeliverTrainerReplies(HumanLoopAction):
    """Hand over trainers' answers waiting for this learner."""

    def name(self) -> str:
        return "action_deliver_trainer_replies"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        pending = self.loop.pending_for(tracker.sender_id)
        if pending:
            _utter_pending(dispatcher, pending, language)
        else:
            dispatcher.utter_message(text=t("handoff_no_replies", language),
                                     buttons=[button(t("button_check_trainer_reply", language),
                                                     "/check_trainer_reply")])
        return []
