"""Handing a learner over to a human trainer."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language_of
from bot.i18n import t

log = logging.getLogger(__name__)


class ActionRequestTrainer(Action):
    """Queue the learner's last question for a trainer and tell them what happens next."""

    def name(self) -> str:
        return "action_request_trainer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.handoff import request_trainer

        language = language_of(tracker)
        question = tracker.get_slot("last_query") or ""
        ref = request_trainer(tracker.sender_id, question, channel=tracker.get_latest_input_channel() or "")
        question_part = t("trainer_request_question_part", language, question=question) if question else ""
        dispatcher.utter_message(text=t("trainer_request_recorded", language, ref=ref, question_part=question_part))
        return []
