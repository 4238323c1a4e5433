"""Thumbs up / down on an answer, stored with the documents the answer cited."""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of
from actions.handoff import HumanLoopAction
from bot.i18n import t

log = logging.getLogger(__name__)


def feedback_buttons(language: str) -> list[dict[str, Any]]:
    """The 👍/👎 buttons put under every answer (payloads carry the rating as an entity)."""
    return [button(t("button_feedback_up", language), "/feedback" + json.dumps({"feedback": "up"})),
            button(t("button_feedback_down", language), "/feedback" + json.dumps({"feedback": "down"}))]


def _rating(tracker: Tracker) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "feedback" and entity.get("value") in ("up", "down"):
            return entity["value"]
    return None


class ActionFeedback(HumanLoopAction):
    """Store the learner's rating of the last answer; 👎 also queues it for the trainers."""

    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        rating = _rating(tracker)
        question = tracker.get_slot("last_query") or ""
        sources = [s for s in (tracker.get_slot("last_sources") or []) if isinstance(s, str)]
        if rating is None or not question:
            dispatcher.utter_message(text=t("feedback_nothing_to_rate", language))
            return []
        ref = self.loop.feedback(tracker.sender_id, tracker.get_latest_input_channel() or "", question, sources,
                                 rating == "up", language)
        if rating == "up":
            dispatcher.utter_message(text=t("feedback_thanks_up", language))
        else:
            ref_part = t("feedback_ref_part", language, ref=ref) if ref else ""
            dispatcher.utter_message(text=t("feedback_thanks_down", language, ref_part=ref_part))
        return []
