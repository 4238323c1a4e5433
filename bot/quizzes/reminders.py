"""Remind learners of due reviews, at most once a day, through the channel they use.

Each pass of the background worker (:mod:`bot.background_worker`) calls
:func:`run_once`:

- :meth:`Reminders.prepare_due` picks learners who agreed to be contacted and have
  reviews due (:meth:`bot.quizzes.Quizzes.learners_due`) and were not reminded yet on
  this local (IST) calendar day, and records the reminder in ``review_reminders``;
- Telegram learners get it pushed now through the bridge's ``/proactive`` endpoint
  (:class:`bot.handoff.delivery.TelegramProactive`);
- web learners (and Telegram learners the bridge could not reach) get it at their next
  turn: ``action_turn_start`` calls :func:`pending_message`.

The message is localised (``reminder_*`` texts) and carries a "Review now" button
(payload ``/review``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from bot.i18n import t
from bot.store import session_factory, session_scope
from bot.store.reminder_models import ReviewReminder

log = logging.getLogger(__name__)
REVIEW_PAYLOAD = "/review"


class Push(Protocol):
    """Pushes a message to one learner now (see :class:`bot.handoff.delivery.TelegramProactive`)."""

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        """Return True when delivered."""


@dataclass(frozen=True)
class DueReminder:
    """A reminder prepared for one learner."""

    learner_id: int
    channel: str
    external_id: str
    due_count: int
    language: str = "en"


@dataclass
class ReminderResult:
    """What one pass did."""

    prepared: int = 0
    pushed: int = 0
    pending: int = 0


def reminder_message(due_count: int, language: str = "en") -> tuple[str, list[dict[str, Any]]]:
    """The reminder text and its "Review now" button in the learner's language.

    Args:
        due_count: Items due for review.
        language: ``en`` or ``hi`` (others fall back to English).

    Returns:
        ``(markdown text, buttons)`` with one button whose payload is ``/review``.
    """
    text = t("reminder_due", language, count=due_count)
    return text, [{"title": t("reminder_button_review", language), "payload": REVIEW_PAYLOAD}]


class Reminders:
    """Daily review reminders kept in the learner store.

    Args:
        quizzes: The :class:`bot.quizzes.Quizzes` (its engine, clock and time zone are used,
            so a simulated clock in tests drives the daily limit too).
    """

    def __init__(self, quizzes: Any) -> None:
        self.quizzes = quizzes
        self._sessions = session_factory(quizzes.engine)

    def _today(self) -> Any:
        return self.quizzes.clock().astimezone(self.quizzes.local_tz).date()

    def prepare_due(self) -> list[DueReminder]:
        """Record and return today's reminders (learners reminded earlier today are left out).

        Returns:
            One :class:`DueReminder` per learner to remind now.
        """
        now, today = self.quizzes.clock(), self._today()
        out: list[DueReminder] = []
        for due in self.quizzes.learners_due(consent_only=True, minimum=1):
            try:
                with session_scope(self._sessions) as s:
                    row = s.get(ReviewReminder, due.learner_id, with_for_update=True)
                    if row is not None and row.last_sent_at.astimezone(self.quizzes.local_tz).date() == today:
                        continue  # once a day at most
                    if row is None:
                        row = ReviewReminder(learner_id=due.learner_id)
                        s.add(row)
                    row.last_sent_at, row.due_count, row.pending = now, due.due_count, True
                    row.delivered_via, row.delivered_at = None, None
            except IntegrityError:  # another worker inserted the row first: it sends this one
                continue
            out.append(DueReminder(due.learner_id, due.channel, due.external_id, due.due_count,
                                   due.language or "en"))
        return out

    def mark_delivered(self, learner_id: int, via: str) -> None:
        """Record that the learner's reminder reached them (``telegram`` or ``next_turn``)."""
        with session_scope(self._sessions) as s:
            row = s.get(ReviewReminder, learner_id)
            if row is not None:
                row.pending, row.delivered_via, row.delivered_at = False, via, self.quizzes.clock()

    def take_pending(self, learner_id: int) -> int | None:
        """Hand over a waiting reminder once: the number of items due now, or None.

        A waiting reminder whose reviews were done meanwhile is cleared without a message.
        """
        with session_scope(self._sessions) as s:
            row = s.get(ReviewReminder, learner_id, with_for_update=True)
            if row is None or not row.pending:
                return None
            row.pending, row.delivered_via, row.delivered_at = False, "next_turn", self.quizzes.clock()
        due = len(self.quizzes.due_items(learner_id))
        return due or None

    def last_sent(self, learner_id: int) -> Any:
        """When the learner was last reminded (None if never)."""
        with session_scope(self._sessions) as s:
            row = s.get(ReviewReminder, learner_id)
            return row.last_sent_at if row is not None else None


def deliver(due: list[DueReminder], reminders: Reminders, telegram: Push | None) -> ReminderResult:
    """Push Telegram learners' reminders now; leave the others for the next turn."""
    result = ReminderResult(prepared=len(due))
    for item in due:
        if item.channel == "telegram" and telegram is not None:
            text, buttons = reminder_message(item.due_count, item.language)
            if telegram.push(item.external_id, text, buttons):
                reminders.mark_delivered(item.learner_id, "telegram")
                result.pushed += 1
                continue
        result.pending += 1
    return result


def run_once(quizzes: Any, telegram: Push | None) -> ReminderResult:
    """Prepare and deliver today's review reminders."""
    reminders = Reminders(quizzes)
    return deliver(reminders.prepare_due(), reminders, telegram)


def pending_message(quizzes: Any, learner_id: int, language: str, *,
                    hold: bool = False) -> tuple[str, list[dict[str, Any]]] | None:
    """The waiting reminder for a learner's turn (web learners), taken once.

    Args:
        quizzes: The :class:`bot.quizzes.Quizzes`.
        learner_id: The learner.
        language: The conversation's language.
        hold: The learner is busy (a question waits for an answer): keep it for later.

    Returns:
        ``(text, buttons)`` to utter, or None.
    """
    if hold:
        return None
    count = Reminders(quizzes).take_pending(learner_id)
    return reminder_message(count, language) if count else None
