"""The background worker: ``python -m bot.background_worker``.

It delivers due onboarding lessons, sends review reminders and runs the retention purge.

Every ``ONBOARDING_POLL_S`` seconds (default 60) it prepares the lessons that are due
(:meth:`bot.plans.onboarding.Onboarding.prepare_due`) and

- pushes Telegram learners' lessons through the bridge's loopback ``/proactive``
  endpoint, or through the bridges' shared store on a cluster
  (:func:`bot.handoff.delivery.telegram_sender`);
- leaves web learners' lessons pending: ``action_onboarding_deliver`` hands them over
  at the learner's next turn (Rasa offers no push into a socket.io conversation here).

A lesson the bridge cannot deliver (bridge down, chat unknown) also stays pending, so
the learner still gets it when they next write. Each pass also sends review reminders
(:func:`bot.quizzes.reminders.run_once`, at most one a day per learner) and, once a
day (first at start-up), the retention purge (:func:`bot.privacy.purge`: learners inactive
for ``TUTOR_RETENTION_DAYS`` - no quiz, question, rating or handoff message - are erased from
every store including the Telegram bridge's chat map, older question-log, feedback and
handoff rows of everyone go, and old tracker events in scaled mode). Several
workers may run against one PostgreSQL database: preparation locks the learner's track
row, and a purge is idempotent.

Usage::

    python -m bot.background_worker [--once]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.i18n import t
from bot.plans.onboarding import DueLesson

log = logging.getLogger(__name__)


class Push(Protocol):
    """Pushes a message to one learner now (see :class:`bot.handoff.delivery.TelegramProactive`)."""

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        """Return True when delivered."""


@dataclass
class RunResult:
    """What one pass did."""

    prepared: int = 0
    pushed: int = 0
    pending: int = 0


def deliver(due: list[DueLesson], plans: Any, telegram: Push | None) -> RunResult:
    """Send prepared lessons: Telegram now, others at the learner's next turn.

    Args:
        due: Lessons from :meth:`Onboarding.prepare_due`.
        plans: The :class:`bot.plans.service.Plans` (to record delivery).
        telegram: The Telegram push, or None when no bridge runs.

    Returns:
        Counts of prepared, pushed and pending lessons.
    """
    result = RunResult(prepared=len(due))
    for item in due:
        if item.channel == "telegram" and telegram is not None:
            text = item.lesson.as_markdown(lambda key, language=item.language, **v: t(key, language, **v))
            if telegram.push(item.external_id, text, item.lesson.buttons()):
                plans.onboarding.mark_delivered(item.lesson.lesson_id, "telegram")
                result.pushed += 1
                continue
        result.pending += 1
    return result


def run_once(plans: Any, telegram: Push | None) -> RunResult:
    """Prepare and deliver everything due now."""
    return deliver(plans.onboarding.prepare_due(), plans, telegram)


#: Seconds between retention purges run by the worker.
PURGE_EVERY_S = 24 * 3600


def purge_if_due(quizzes: Any, last_run: float | None, now: float | None = None) -> float | None:
    """Run the retention purge when a day has passed since ``last_run`` (or never ran).

    Returns:
        When the purge last ran (``now`` if it ran in this call).
    """
    now = time.monotonic() if now is None else now
    if last_run is not None and now - last_run < PURGE_EVERY_S:
        return last_run
    from bot.config import load_settings
    from bot.privacy import purge, retention_days, tracker_db_url

    settings = load_settings()
    telegram = bool(settings.telegram_token)  # the bridge's chat mappings go with the learner
    try:
        purge(quizzes, retention_days(), tracker_url=tracker_db_url(),
              bridge_port=settings.telegram_proactive_port if telegram else None,
              bridge_token=settings.action_token if telegram else None, kb_dir=Path(settings.kb_dir))
    except Exception:  # a failed purge is retried on the next pass, not in a day
        log.exception("retention purge failed")
        return last_run
    return now


def telegram_push(settings: Any) -> Push | None:
    """How the worker reaches Telegram learners (:func:`bot.handoff.delivery.telegram_sender`), or None."""
    from bot.handoff.delivery import telegram_sender

    return telegram_sender(settings, f"http://127.0.0.1:{settings.telegram_proactive_port}/proactive")


def main(argv: list[str] | None = None) -> int:
    """Run the delivery loop until SIGINT/SIGTERM (or one pass with ``--once``)."""
    parser = argparse.ArgumentParser(prog="python -m bot.background_worker")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    from bot.config import load_settings
    from bot.wiring import get_plans

    settings = load_settings()
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    plans, push = get_plans(), telegram_push(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    purged_at: float | None = None
    while True:
        try:
            result = run_once(plans, push)
            if result.prepared:
                log.info("onboarding: %d prepared, %d pushed to Telegram, %d pending for the next turn",
                         result.prepared, result.pushed, result.pending)
        except Exception:  # one bad pass must not end the loop
            log.exception("onboarding delivery pass failed")
        try:  # [quizzes] review reminders ride on the same loop: no extra process for `make run`
            from bot.quizzes.reminders import run_once as remind_once

            reminded = remind_once(plans.quizzes, push)
            if reminded.prepared:
                log.info("review reminders: %d prepared, %d pushed to Telegram, %d pending for the next turn",
                         reminded.prepared, reminded.pushed, reminded.pending)
        except Exception:
            log.exception("review reminder pass failed")
        purged_at = purge_if_due(plans.quizzes, purged_at)
        if args.once or stop.wait(settings.onboarding_poll_s):
            return 0


if __name__ == "__main__":
    sys.exit(main())
