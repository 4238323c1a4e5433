"""Learning plans and onboarding in the chat.

- ``action_show_plan`` / ``action_next_step``: the learner's plan for their role,
  ordered by competency gaps and prerequisites (:mod:`bot.plans.plan`).
- ``action_start_onboarding`` and friends: the daily lessons of new recruits.
- ``action_turn_start`` runs before every turn (custom slot mapping of ``language`` and
  ``role``): it sets the reply language (:func:`actions.session.language_events`),
  restores the ``role`` slot from the store after a new session, hands over onboarding
  lessons that wait for a web learner (or a Telegram learner the bridge could not
  reach), and points the quiz slots at a lesson's check question so a typed or button
  answer is checked against it.

Nothing here stores anything about a learner who has not accepted the privacy notice:
the commands look the learner up through :func:`bot.privacy.consented_learner` (which
never creates a row), ``action_turn_start`` hands nothing over without consent, and
:meth:`bot.plans.onboarding.Onboarding.prepare` itself refuses to store a lesson for a
learner without it (the background worker goes through it too).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, latest_text, learner_key
from actions.profile import PlansAction
from actions.session import language_events
from bot.i18n import t
from bot.plans.onboarding import DEFAULT_SEND_TIME, OnboardingError, TrackStatus, parse_time
from bot.plans.render import next_step_markdown, onboarding_status_markdown, plan_markdown, role_buttons, step_buttons

log = logging.getLogger(__name__)


def _texts(language: str):
    return lambda key, **values: t(key, language, **values)


def _onboarding_buttons(status: TrackStatus | None, language: str) -> list[dict[str, Any]]:
    if status is None or status.status in ("stopped", "completed"):
        return [button(t("plans_button_start_onboarding", language), "/start_onboarding")]
    if status.status == "paused":
        return [button(t("plans_button_resume", language), "/resume_onboarding"),
                button(t("plans_button_stop", language), "/stop_onboarding")]
    return [button(t("plans_button_pause", language), "/pause_onboarding"),
            button(t("plans_button_stop", language), "/stop_onboarding")]


class ActionShowPlan(PlansAction):
    """Show the ordered plan, its progress and the weakest competencies."""

    def name(self) -> str:
        return "action_show_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        role = self.current_role(tracker)
        if role is None:
            dispatcher.utter_message(text=t("plans_need_role", language), buttons=role_buttons(self.plans.roles, language))
            return []
        # Without consent there is no stored progress: the plan for a learner with none.
        plan = self.plans.plan(self.learner_id(tracker), role.id)
        dispatcher.utter_message(text=plan_markdown(plan, language), buttons=step_buttons(plan, language))
        return [SlotSet("role", role.id)] if tracker.get_slot("role") != role.id else []


class ActionNextStep(PlansAction):
    """Say what to learn next and why, with a button to quiz on it."""

    def name(self) -> str:
        return "action_next_step"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        role = self.current_role(tracker)
        if role is None:
            dispatcher.utter_message(text=t("plans_need_role", language), buttons=role_buttons(self.plans.roles, language))
            return []
        # Without consent there is no stored progress: the plan for a learner with none.
        plan = self.plans.plan(self.learner_id(tracker), role.id)
        dispatcher.utter_message(text=next_step_markdown(plan, language), buttons=step_buttons(plan, language))
        return [SlotSet("role", role.id)] if tracker.get_slot("role") != role.id else []


def _time_from(tracker: Tracker) -> str | None:
    named = next(tracker.get_latest_entity_values("onboarding_time"), None)
    return parse_time(named or "") or parse_time(latest_text(tracker) if not latest_text(tracker).startswith("/")
                                                 else "")


def _lesson_events(question: Any) -> list[EventType]:
    """Point the quiz slots at a lesson's check question."""
    if question is None:
        return []
    return [SlotSet("quiz_active", True), SlotSet("quiz_item_id", question.item_id)]


class ActionStartOnboarding(PlansAction):
    """Start the daily lessons (at the time named, else 09:00 IST) and give day 1 now."""

    def name(self) -> str:
        return "action_start_onboarding"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.learner_id(tracker)
        if learner is None:  # the track, its lessons and their answers are stored: consent first
            dispatcher.utter_message(response="utter_privacy_notice")
            return []
        role = self.current_role(tracker)
        onboarding = self.plans.onboarding
        try:
            status = onboarding.start(learner, role_id=role.id if role else None,
                                      send_time=_time_from(tracker) or DEFAULT_SEND_TIME)
        except OnboardingError:
            log.error("no onboarding track in the role model")
            dispatcher.utter_message(text=t("plans_onboarding_none", language))
            return []
        lesson = onboarding.prepare(learner, force=True) if status.day == 0 else None
        if lesson is None:
            if status.day == 0:  # no lesson material yet (index still building)
                dispatcher.utter_message(text=t("plans_onboarding_no_lesson", language))
            else:
                dispatcher.utter_message(text=onboarding_status_markdown(status, language),
                                         buttons=_onboarding_buttons(status, language))
            return []
        onboarding.mark_delivered(lesson.lesson_id, "chat")
        dispatcher.utter_message(text=t("plans_onboarding_started", language, total=status.total_days,
                                        time=status.send_time))
        dispatcher.utter_message(text=lesson.as_markdown(_texts(language)), buttons=lesson.buttons())
        return _lesson_events(lesson.question)


class ActionSetLessonTime(PlansAction):
    """Change the daily lesson time."""

    def name(self) -> str:
        return "action_set_lesson_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        when = _time_from(tracker)
        if when is None:
            dispatcher.utter_message(text=t("plans_onboarding_time_unclear", language))
            return []
        learner = self.learner_id(tracker)
        try:
            if learner is None:  # never stored (no consent): no track to change
                raise OnboardingError("no track")
            self.plans.onboarding.set_time(learner, when)
        except OnboardingError:
            dispatcher.utter_message(text=t("plans_onboarding_none", language),
                                     buttons=_onboarding_buttons(None, language))
            return []
        dispatcher.utter_message(text=t("plans_onboarding_time_set", language, time=when))
        return []


class _OnboardingCommand(PlansAction):
    """Pause, resume, stop or report the track, then show its status."""

    command = "status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.learner_id(tracker)
        onboarding = self.plans.onboarding
        try:
            status = None if learner is None else onboarding.status(learner) if self.command == "status" else \
                getattr(onboarding, self.command)(learner)
        except OnboardingError:
            status = None
        if status is None:
            dispatcher.utter_message(text=t("plans_onboarding_none", language),
                                     buttons=_onboarding_buttons(None, language))
            return []
        dispatcher.utter_message(text=onboarding_status_markdown(status, language),
                                 buttons=_onboarding_buttons(status, language))
        return []


class ActionPauseOnboarding(_OnboardingCommand):
    command = "pause"

    def name(self) -> str:
        return "action_pause_onboarding"


class ActionResumeOnboarding(_OnboardingCommand):
    command = "resume"

    def name(self) -> str:
        return "action_resume_onboarding"


class ActionStopOnboarding(_OnboardingCommand):
    command = "stop"

    def name(self) -> str:
        return "action_stop_onboarding"


class ActionOnboardingStatus(_OnboardingCommand):
    command = "status"

    def name(self) -> str:
        return "action_onboarding_status"


class ActionTurnStart(PlansAction):
    """Before every turn: the reply language, then the role slot, waiting lessons and quiz slots.

    Rasa runs it as the custom slot mapping of ``language``, ``language_chosen`` and
    ``role``: one call to the action server per learner message. (Language detection and
    this plans work were two actions, so every message cost two round trips, each sending
    the whole conversation.) It must be quick and must never fail the turn: an error in
    the plans part is logged and the turn goes on with the language alone.
    """

    def name(self) -> str:
        return "action_turn_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        events = language_events(tracker)
        language = next((e["value"] for e in events if e["name"] == "language"), language_of(tracker))
        try:
            return events + self._turn(dispatcher, tracker, language)
        except Exception:  # the learner's actual message matters more than this
            log.exception("action_turn_start failed in the plans part")
            return events

    def _review_reminder(self, dispatcher: CollectingDispatcher, tracker: Tracker, learner: int,
                         language: str) -> None:
        """[quizzes] Hand over a review reminder waiting for this (web) learner, once."""
        from bot.quizzes.reminders import pending_message

        quizzes = self.plans.quizzes
        intent = (tracker.latest_message or {}).get("intent", {}).get("name")
        # Not while a question waits for an answer; on "review" itself the reminder is moot.
        busy = quizzes.current_question(learner) is not None
        message = pending_message(quizzes, learner, language, hold=busy)
        if message is not None and intent != "review":
            dispatcher.utter_message(text=message[0], buttons=message[1])

    def _turn(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: str) -> list[EventType]:
        channel, external_id = learner_key(tracker)
        learner = self.plans.find_learner(channel, external_id)
        if learner is None:
            return []
        events: list[EventType] = []
        if not tracker.get_slot("role"):
            role = self.plans.roles.get(self.plans.profile(learner).role)
            if role is not None:
                events.append(SlotSet("role", role.id))
        from bot.privacy import has_consent

        # Handing over a lesson or reminder marks it delivered (a write): only with consent.
        # A row without it (consent withdrawn, an older database) gets nothing more stored.
        if not has_consent(self.plans.quizzes, learner):
            return events
        self._review_reminder(dispatcher, tracker, learner, language)
        onboarding = self.plans.onboarding
        if onboarding.status(learner) is None:
            return events
        pending = onboarding.take_pending(learner)
        for lesson in pending:
            dispatcher.utter_message(text=lesson.as_markdown(_texts(language)), buttons=lesson.buttons())
        question = self.plans.quizzes.current_question(learner)
        latest = onboarding.latest_lesson_item(learner)
        if question is not None and question.item_id == latest and tracker.get_slot("quiz_item_id") != latest:
            events += _lesson_events(question)
        return events
