"""Session start and the learner's reply language."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, detect_language, language_of, latest_text
from bot.i18n import available_languages, interface_languages, language_named_in

#: Slots that survive a new session: who the learner is and how they like to be talked to.
CARRIED_SLOTS = ("language", "language_chosen", "role")


class ActionSessionStart(Action):
    """Start a session with defaults, keeping the learner's language preferences."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        carried = {s: tracker.get_slot(s) for s in CARRIED_SLOTS if tracker.get_slot(s) is not None}
        metadata = tracker.get_slot("session_started_metadata") or {}
        requested = metadata.get("language") if isinstance(metadata, dict) else None
        if requested in available_languages():  # a channel (e.g. the widget switch) may pass it
            carried["language"], carried["language_chosen"] = requested, True
        carried.setdefault("language", "en")
        carried.setdefault("language_chosen", False)
        events += [SlotSet(k, v) for k, v in carried.items()]
        events += [SlotSet("answer_rank", 0.0), SlotSet("last_query", None), SlotSet("last_sources", None)]
        events.append(ActionExecuted("action_listen"))
        return events


def language_events(tracker: Tracker) -> list[EventType]:
    """The reply-language slots after the learner's latest message (run at every turn's start).

    An explicit choice ("reply in Hindi", the widget switch, the language menu) is
    remembered and wins over detection; until then a message in an interface language's
    script switches replies to it and a clearly English message switches them back.
    :class:`actions.plans.ActionTurnStart` calls this first, in the one action-server call
    Rasa makes before every turn.

    Args:
        tracker: The conversation, with the learner's latest message.

    Returns:
        ``SlotSet`` events for ``language`` (and ``language_chosen``), or none.
    """
    chosen = chosen_language(tracker)
    if chosen:
        return [SlotSet("language", chosen), SlotSet("language_chosen", True)]
    if tracker.get_slot("language_chosen"):
        return []
    detected = detect_language(latest_text(tracker))
    if detected and detected != language_of(tracker):
        return [SlotSet("language", detected)]
    return []


def chosen_language(tracker: Tracker) -> str | None:
    """The interface language the learner's latest message chooses, if it asks for one.

    The NLU's ``language`` entity first (a menu button's payload, "reply in Hindi"); when
    the model tagged no known language, the message's own words, since learners join case
    endings to the name ("ગુજરાતીમાં", "తెలుగులో") and the tagger misses those.

    Args:
        tracker: The conversation, with the learner's latest message.

    Returns:
        The language code, or None when the message is not a ``choose_language`` request
        naming an interface language (the menu is then shown).
    """
    if tracker.get_intent_of_latest_message() != "choose_language":
        return None
    entity = next(tracker.get_latest_entity_values("language"), None)
    if entity in available_languages():
        return str(entity)
    text = latest_text(tracker)
    named = language_named_in(str(entity)) if entity else None
    return named or (language_named_in(text) if not text.startswith("/") else None)


def language_buttons() -> list[dict[str, Any]]:
    """One button per interface language, named in itself (the language menu).

    Returns:
        Buttons whose payloads choose the language (``/choose_language{"language": "hi"}``).
    """
    return [button(lang.native_name, "/choose_language" + json.dumps({"language": lang.code}))
            for lang in interface_languages()]


class ActionChooseLanguage(Action):
    """Confirm an explicit language choice, or ask which language when none was named.

    The question is ``utter_choose_language`` (domain.yml); its buttons are the interface
    languages of :func:`bot.i18n.interface_languages`, so a language added as a locale
    file is offered with no change here.
    """

    def name(self) -> str:
        return "action_choose_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        chosen = chosen_language(tracker)
        if chosen:
            # action_turn_start (run by slot extraction) has already set the slot, so
            # the confirmation is rendered in the chosen language; set again to be explicit.
            dispatcher.utter_message(response="utter_language_set")
            return [SlotSet("language", chosen), SlotSet("language_chosen", True)]
        dispatcher.utter_message(response="utter_choose_language", buttons=language_buttons())
        return []
