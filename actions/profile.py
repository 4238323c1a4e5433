"""The learner's profile: role, department and preferred language.

``profile_form`` asks the three (each may be skipped); ``validate_profile_form`` maps a
typed role ("I'm the CPIO", "अनुभाग अधिकारी", "section oficer") to the role model and,
when unsure, ``action_ask_profile_role`` offers the closest roles as buttons.
``action_set_role`` changes the role at any time ("I am now a PIO", "change my role").
Once the learner has accepted the privacy notice, everything is saved to the learner
store; before that, only the conversation's slots hold it. The ``role`` slot follows it
so knowledge answers are boosted toward the learner's role.
"""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import button, language_of, latest_text, learner_key
from bot.i18n import (
    is_interface_language,
    language_for_name,
    language_name,
    language_named_in,
    t,
    words_in_every_language,
)
from bot.plans.matching import match_role, normalise_role_text
from bot.plans.render import role_buttons
from bot.plans.roles import Role
from bot.plans.service import Plans

SKIP = "skip"
_SKIP_WORDS = frozenset({"skip", "skip it", "later", "not now", "pass", "no", "skip karo", "chhodo", "chodo",
                         "rehne do", "baad mein", "छोड़ें", "छोड़ो", "छोड़िए", "बाद में", "रहने दो", "नहीं"})
MAX_DEPARTMENT_CHARS = 128


def is_skip(text: str | None) -> bool:
    """Whether an answer means "skip this question".

    Besides the English and Hindi words above, every locale's Skip button label and its
    ``skip_words`` (comma-separated) count, so a language added as a file is understood.
    """
    words = {normalise_role_text(w) for w in (*_SKIP_WORDS, *words_in_every_language("quiz_button_skip", "skip_words"))}
    return normalise_role_text(text or "") in words - {""}


class PlansMixin:
    """Access to :class:`bot.plans.service.Plans` (injected in tests, shared otherwise)."""

    _injected: Plans | None = None

    @property
    def plans(self) -> Plans:
        """The plans service (the injected one, else the process-wide one, opened on first use)."""
        if self._injected is not None:
            return self._injected
        from bot.wiring import get_plans  # lazy: opens the store on first use

        return get_plans()

    def learner_id(self, tracker: Tracker) -> int | None:
        """The learner's id if they accepted the privacy notice, else None (no row is created)."""
        from bot.privacy import consented_learner

        channel, external_id = learner_key(tracker)
        return consented_learner(self.plans.quizzes, channel, external_id)

    def current_role(self, tracker: Tracker) -> Role | None:
        """The learner's role: the slot, else the store (a new session drops slots)."""
        model = self.plans.roles
        role = model.get(tracker.get_slot("role"))
        if role is None:
            channel, external_id = learner_key(tracker)
            learner = self.plans.find_learner(channel, external_id)
            if learner is not None:
                role = model.get(self.plans.profile(learner).role)
        return role


class PlansAction(PlansMixin, Action, abc.ABC):
    """Base of the plan and profile actions (abstract: rasa_sdk skips it)."""

    def __init__(self, plans: Plans | None = None) -> None:
        self._injected = plans

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""


def role_confirmed(role: Role, language: str) -> tuple[str, list[dict[str, Any]]]:
    """Confirmation text and follow-up buttons after a role is set."""
    text = t("plans_role_set", language, role=role.display(language))
    buttons = [button(t("plans_button_show_plan", language), "/show_plan"),
               button(t("plans_button_next_step", language), "/next_step")]
    if role.onboarding is not None:
        text += "\n\n" + t("plans_suggest_onboarding", language)
        buttons.insert(0, button(t("plans_button_start_onboarding", language), "/start_onboarding"))
    return text, buttons


def session_only(dispatcher: CollectingDispatcher, language: str) -> None:
    """Say the profile is kept for this conversation only, and offer the privacy notice.

    Why: the department is free text and the role personal data; neither is stored
    before the learner accepts the notice (DPDP Act), but the conversation may use them.
    """
    dispatcher.utter_message(text=t("privacy_profile_session_only", language))
    dispatcher.utter_message(response="utter_privacy_notice")


class ActionAskProfileRole(PlansAction):
    """Ask the role in the profile form: the closest roles after an unclear answer, else all."""

    def name(self) -> str:
        return "action_ask_profile_role"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        model = self.plans.roles
        found = [model.get(r) for r in tracker.get_slot("role_candidates") or []]
        candidates = [r for r in found if r is not None]
        roles = candidates or list(model.roles.values())
        # Plain-text payloads: the form reads the answer as text, and a role's exact
        # name always matches.
        buttons = [button(r.display(language), r.name) for r in roles]
        buttons.append(button(t("plans_button_skip", language), SKIP))
        dispatcher.utter_message(text=t("plans_role_confirm" if candidates else "plans_ask_role", language),
                                 buttons=buttons)
        return []


class ValidateProfileForm(PlansMixin, FormValidationAction):
    """Map and check the profile answers."""

    def __init__(self, plans: Plans | None = None) -> None:
        self._injected = plans

    def name(self) -> str:
        return "validate_profile_form"

    async def validate_profile_role(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        """Accept a role the learner's words match surely; otherwise ask again with the closest roles."""
        text = str(value or "").strip()
        if is_skip(text):
            return {"profile_role": SKIP, "role_candidates": None}
        match = match_role(text, self.plans.roles)
        if match.role is not None and match.sure:
            return {"profile_role": match.role.id, "role_candidates": None}
        if not match.candidates:
            dispatcher.utter_message(text=t("plans_role_unknown", language_of(tracker), text=text[:80]))
        # Not sure: ask again, offering the closest roles (or all of them).
        return {"profile_role": None, "role_candidates": [r.id for r in match.candidates] or None}

    async def validate_profile_department(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> dict[str, Any]:
        """Accept any department name (spaces tidied, length bounded) or a skip."""
        text = " ".join(str(value or "").split())
        if is_skip(text) or not text:
            return {"profile_department": SKIP}
        return {"profile_department": text[:MAX_DEPARTMENT_CHARS]}

    async def validate_profile_language(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> dict[str, Any]:
        """Accept a known language name or code, or a skip; ask again otherwise."""
        text = normalise_role_text(str(value or ""))
        if is_skip(text):
            return {"profile_language": SKIP}
        # The names and aliases in the locale files' `language:` blocks (bot.i18n).
        code = language_for_name(text) or language_named_in(text)
        if code is None:
            return {"profile_language": None}
        # An explicit choice: switch replies now and stop following the script.
        return {"profile_language": code, "language": code, "language_chosen": True}


class ActionSaveProfile(PlansAction):
    """Save the completed profile form and confirm it."""

    def name(self) -> str:
        return "action_save_profile"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        role_id = tracker.get_slot("profile_role")
        department = tracker.get_slot("profile_department")
        chosen = tracker.get_slot("profile_language")
        model = self.plans.roles
        role = model.get(role_id) if role_id != SKIP else None
        department = department if department and department != SKIP else None
        code = chosen if is_interface_language(chosen) else None
        language = code or language_of(tracker)
        events: list[EventType] = [SlotSet("profile_role", None), SlotSet("profile_department", None),
                                   SlotSet("profile_language", None), SlotSet("role_candidates", None)]
        if role is None and department is None and code is None:
            dispatcher.utter_message(text=t("plans_profile_skipped", language))
            return events
        learner = self.learner_id(tracker)
        if learner is not None:
            self.plans.save_profile(learner, role=role.id if role else None, department=department, language=code)
        if role is not None:
            events.append(SlotSet("role", role.id))
        else:
            role = self.current_role(tracker)
        text = t("plans_profile_saved" if learner is not None else "plans_profile_noted", language,
                 role=role.display(language) if role else t("plans_not_set", language),
                 department=department or t("plans_not_set", language),
                 language_name=language_name(language, language))
        buttons = [button(t("plans_button_show_plan", language), "/show_plan")] if role else []
        dispatcher.utter_message(text=text, buttons=buttons)
        if learner is None:  # no consent: the answers live in this conversation only
            session_only(dispatcher, language)
        return events


class ActionSetRole(PlansAction):
    """Set or change the role from a message ("I am now a PIO") or a role button."""

    def name(self) -> str:
        return "action_set_role"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        model = self.plans.roles
        named = next(tracker.get_latest_entity_values("role_name"), None)
        text = latest_text(tracker)
        match = match_role(named, model) if named else None
        if match is None or match.role is None:
            # No entity (or an unclear one): a role named anywhere in the message still counts,
            # but a bare "change my role" gets the list rather than a fuzzy guess.
            whole = match_role(text, model) if text and not text.startswith("/") else None
            if whole is not None and whole.sure and whole.score == 1.0:
                match = whole
        if match is None or (match.role is None and not match.candidates):
            key = "plans_role_unknown" if named else "plans_role_which"
            dispatcher.utter_message(text=t(key, language, text=(named or "")[:80]),
                                     buttons=role_buttons(model, language))
            return []
        if not match.sure:
            dispatcher.utter_message(text=t("plans_role_confirm", language),
                                     buttons=role_buttons(list(match.candidates), language))
            return []
        role = match.role
        assert role is not None
        learner = self.learner_id(tracker)
        if learner is not None:
            self.plans.save_profile(learner, role=role.id)
        reply, buttons = role_confirmed(role, language)
        dispatcher.utter_message(text=reply, buttons=buttons)
        if learner is None:
            session_only(dispatcher, language)
        return [SlotSet("role", role.id)]
