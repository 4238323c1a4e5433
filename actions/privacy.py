"""Data-rights actions: consent to the privacy notice and its withdrawal, delete my data, export my data.

Withdrawing consent reuses the deletion's confirmation: ``withdraw_consent`` (or "I do not
agree" from a learner who had agreed) asks ``utter_ask_withdraw_confirm``, whose buttons are
the deletion's ``confirm_delete_my_data`` / ``cancel_delete_my_data``; on confirm
``action_delete_my_data`` sees what was asked and withdraws (flag cleared, everything
erased) with a reply that says so. Thin: the logic is in :mod:`bot.privacy`. Services are
injectable for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, Restarted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language_of, learner_key
from bot.i18n import t

log = logging.getLogger(__name__)

#: Intents whose confirmation means "withdraw my consent" rather than a plain deletion.
WITHDRAWAL_INTENTS = frozenset({"withdraw_consent", "consent_decline"})


def asked_to_withdraw(tracker: Tracker) -> bool:
    """Whether the message before the latest one asked to withdraw consent.

    The latest message is the confirmation button; the one the learner confirmed is the
    user message before it (``withdraw_consent``, or a decline that was answered with the
    withdrawal question).

    Args:
        tracker: The conversation.

    Returns:
        True for a withdrawal, False for a plain "delete my data" (or anything else).
    """
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return False
    intent = ((users[-2].get("parse_data") or {}).get("intent") or {}).get("name")
    return intent in WITHDRAWAL_INTENTS


def _default_quizzes():
    from bot.wiring import get_quizzes

    return get_quizzes()


class ActionRecordConsent(Action):
    """Store whether the learner accepted the privacy notice (intent ``consent_accept``/``consent_decline``).

    A decline from a learner who had accepted is not taken silently: it changes nothing
    yet and asks whether to withdraw consent (erasing everything), with the deletion's
    confirm and cancel buttons.
    """

    def __init__(self, quizzes: Callable[[], Any] = _default_quizzes) -> None:
        self._quizzes = quizzes

    def name(self) -> str:
        return "action_record_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from bot.privacy import answer_notice

        accepted = (tracker.latest_message.get("intent") or {}).get("name") == "consent_accept"
        channel, sender = learner_key(tracker)
        quizzes = self._quizzes()
        if not accepted:
            from bot.privacy import consented_learner

            if consented_learner(quizzes, channel, sender) is not None:
                dispatcher.utter_message(response="utter_ask_withdraw_confirm")
                return []
        learner_id = answer_notice(quizzes, channel, sender, accepted)  # a decline stores nothing
        if accepted and learner_id is not None and tracker.get_slot("role"):
            # The role given before consent lived in the conversation only; keep it now.
            quizzes.update_profile(learner_id, role=tracker.get_slot("role"))
        dispatcher.utter_message(text=t("privacy_consent_accepted" if accepted else "privacy_consent_declined",
                                        language_of(tracker)))
        return []


class ActionDeleteMyData(Action):
    """Erase the learner from every store, confirm, and restart the conversation.

    After a withdrawal question (:func:`asked_to_withdraw`) the consent flag is cleared
    first (:func:`bot.privacy.withdraw_consent`) and the reply says consent is withdrawn.
    """

    def __init__(self, quizzes: Callable[[], Any] = _default_quizzes) -> None:
        self._quizzes = quizzes

    def name(self) -> str:
        return "action_delete_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from bot.config import load_settings
        from bot.privacy import erase_learner, tracker_db_url, withdraw_consent

        language = language_of(tracker)
        settings = load_settings()
        channel, sender = learner_key(tracker)
        withdrawal = asked_to_withdraw(tracker)
        erase = withdraw_consent if withdrawal else erase_learner
        report = erase(self._quizzes(), channel, sender, tracker_url=tracker_db_url(),
                       bridge_port=settings.telegram_proactive_port, bridge_token=settings.action_token,
                       kb_dir=Path(settings.kb_dir))
        # The last search result kept in this process for paging holds the learner's question.
        from actions.knowledge import RECENT_RESULTS

        RECENT_RESULTS.forget(tracker.sender_id)
        if withdrawal:
            key = "privacy_consent_withdrawn" if report.complete else "privacy_withdraw_incomplete"
        else:
            key = "privacy_deleted" if report.complete else "privacy_delete_incomplete"
        dispatcher.utter_message(text=t(key, language))
        # The conversation itself: a fresh tracker (in-memory store) and no slots carried over.
        return [AllSlotsReset(), Restarted()]


class ActionExportMyData(Action):
    """Send the learner everything stored about them: a short summary and a JSON file."""

    def __init__(self, quizzes: Callable[[], Any] = _default_quizzes) -> None:
        self._quizzes = quizzes

    def name(self) -> str:
        return "action_export_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from bot.privacy import export_file, export_learner, export_rows, tracker_db_url

        language = language_of(tracker)
        channel, sender = learner_key(tracker)
        data = export_learner(self._quizzes(), channel, sender, tracker_url=tracker_db_url())
        dispatcher.utter_message(text=t("privacy_export_ready", language, rows=export_rows(data)))
        # A file: the widget offers it as a download, the Telegram bridge sends it as a document.
        dispatcher.utter_message(json_message=export_file(data))
        return []
