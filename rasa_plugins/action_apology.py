"""An apology within seconds, instead of silence, when the action server is down or hung.

What Rasa 3.6.21 does on its own (``rasa/core/actions/action.py``, ``RemoteAction.run``, and
``rasa/core/processor.py``, ``MessageProcessor._run_action``): the call to the action server
has a hard-coded 300 s timeout (``DEFAULT_REQUEST_TIMEOUT``; the ``action_endpoint`` settings
in ``endpoints.yml`` cannot change it). A refused connection or an HTTP 5xx becomes a
``RasaException``; the processor logs "Bot will continue, but the actions events are lost"
and the learner gets nothing at all. A hung action server keeps the learner waiting five
minutes, then the same silence.

:func:`install` wraps ``RemoteAction.run`` inside the Rasa process (so every channel - REST,
socket.io and the Telegram bridge, which talks REST - gets the same behaviour): the call is
bounded by ``ACTION_TIMEOUT_S`` seconds (default 8), and when it fails or times out the
learner gets the domain's ``utter_service_unavailable`` response, in their language (the
response's ``language`` slot conditions), once per message; the rest of that message's actions
are not sent to the failing server at all (nginx's apology in scaled mode counts the same). A rejection (HTTP 400, e.g. a form
validation that rejects the input) is not a failure and passes through unchanged. In scaled
mode nginx answers the same response for an action server that fails (``bot/scaled/nginx.py``).

:mod:`rasa_plugins.serve` calls :func:`install` before starting Rasa's CLI.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

#: The domain response the learner gets (English, with a Hindi variation on ``language: hi``).
APOLOGY_RESPONSE = "utter_service_unavailable"
#: Longest wait for the action server (seconds) unless ``ACTION_TIMEOUT_S`` says otherwise:
#: with Rasa's own work the apology arrives within 10 s of the learner's message.
DEFAULT_TIMEOUT_S = 8.0


def timeout_from_env() -> float:
    """``ACTION_TIMEOUT_S`` as a positive number of seconds, or :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        ValueError: the variable is set but is not a positive number.
    """
    raw = os.environ.get("ACTION_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ValueError(f"ACTION_TIMEOUT_S must be a positive number of seconds, not {raw!r}")
    return value


def already_apologised(tracker: Any) -> bool:
    """True when the bot has apologised for the learner's latest message (one apology is enough).

    That is since the latest learner message, or in the session start that this message
    began (a new or expired conversation runs the custom ``action_session_start`` first).
    """
    from rasa.shared.core.constants import ACTION_SESSION_START_NAME
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    past_message, apologised_before_it = False, False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if past_message:
                return False
            past_message = True
        elif isinstance(event, BotUttered) and (event.metadata or {}).get("utter_action") == APOLOGY_RESPONSE:
            if not past_message:
                return True
            apologised_before_it = True
        elif past_message and isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME:
            return apologised_before_it
    return False


def install(timeout_s: float | None = None) -> None:
    """Bound every custom-action call and apologise when it fails (idempotent).

    Args:
        timeout_s: Longest wait for the action server; default :func:`timeout_from_env`.
    """
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

    limit = timeout_s if timeout_s is not None else timeout_from_env()
    original = getattr(RemoteAction.run, "__wrapped__", RemoteAction.run)

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list:
        if already_apologised(tracker):
            # The action server already failed on this message: calling it again would make
            # the learner wait once more per remaining action of the turn (a hung server costs
            # the whole timeout each time), for a reply that has already been given.
            logger.warning("Custom action '%s' skipped: the action server failed earlier on this message.",
                           self.name())
            return []
        try:
            return await asyncio.wait_for(original(self, output_channel, nlg, tracker, domain), limit)
        except ActionExecutionRejection:
            raise
        except Exception as exc:  # noqa: BLE001 - Rasa itself would swallow it and stay silent
            # Names and error kinds only: the tracker (learner data) stays out of the log.
            reason = f"no answer within {limit:g} s" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            logger.error("Custom action '%s' failed (%s); the learner gets %s.", self.name(), reason,
                         APOLOGY_RESPONSE)
            return await self._utter_responses([{"response": APOLOGY_RESPONSE}], output_channel, nlg, tracker)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    RemoteAction.run = run  # type: ignore[method-assign]
