"""Getting a trainer's message to a learner, and a learner's message to the trainers.

- Telegram learners (sender ``tg-...``): the bridge's loopback ``/proactive`` endpoint
  sends it now, or, when the bridges share a database server, it is left there for any
  bridge to send; if neither works or no bridge knows the chat, it waits in the outbox.
- Web widget and REST learners: Rasa has no open API here to push into a conversation,
  so the message waits in the outbox and ``action_deliver_trainer_replies`` /
  ``action_handoff_relay`` hand it over on the learner's next turn (the reply to a
  question carries a "Check for a trainer's reply" button).
- Trainers' Telegram chat (``TELEGRAM_TRAINER_CHAT_ID``): new requests and every
  learner message during a live handoff are posted there with the console link.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Protocol

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


class Sender(Protocol):
    """Something that can push one message to a learner now."""

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        """Return True if the message was delivered."""


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class TelegramProactive:
    """Push through the Telegram bridge's ``/proactive`` endpoint.

    Args:
        url: e.g. ``http://127.0.0.1:5056/proactive``.
        token: the action-server token the endpoint expects.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        """Send a message to the learner behind ``sender`` through the bridge's ``/proactive`` endpoint.

        Returns:
            True when it was accepted.
        """
        try:
            status, body = _post_json(self.url, {"sender": sender, "text": text, "buttons": buttons or []},
                                      {"Authorization": f"Bearer {self.token}"})
        except (urllib.error.URLError, OSError) as exc:
            log.warning("proactive endpoint unreachable: %s", exc)
            return False
        if status != 200:
            log.warning("proactive endpoint refused a message (%s): %s", status, body[:200])
        return status == 200


class QueuedTelegramProactive:
    """Leave the message in the bridges' shared store for any bridge to send (a cluster).

    Args:
        store_url: ``TELEGRAM_STORE_URL`` (a database server the bridges share).
    """

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self._queue: Any = None

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        """Queue a message for the learner behind ``sender``.

        Returns:
            True when it was queued; False when no bridge knows the learner's chat or the
            store cannot be reached (the caller keeps the message and tries again later).
        """
        from sqlalchemy.exc import SQLAlchemyError

        from bot.channels.proactive_queue import ProactiveQueue

        try:
            if self._queue is None:
                self._queue = ProactiveQueue.open(self.store_url)
            return bool(self._queue.put(sender, [{"text": text, "buttons": buttons or []}]))
        except SQLAlchemyError as exc:
            log.warning("Telegram bridge store unreachable (%s)", type(exc).__name__)
            return False


def telegram_sender(settings: Any, proactive_url: str) -> Sender | None:
    """How this process reaches Telegram learners, or None without a bot token.

    Through the bridges' shared store when it is a database server (the bridges may run on
    other machines), else through the one bridge's loopback endpoint.

    Args:
        settings: :class:`bot.config.Settings`.
        proactive_url: The bridge's ``/proactive`` URL on this machine.

    Returns:
        A :class:`Sender`, or None.
    """
    if not settings.telegram_token:
        return None
    if settings.telegram_store_url.startswith(("postgresql", "postgres:")):
        return QueuedTelegramProactive(settings.telegram_store_url)
    return TelegramProactive(proactive_url, settings.action_token)


class TrainerChat:
    """Post notices to the trainers' Telegram chat through the Bot API (optional).

    Args:
        api_base: Bot API root (``https://api.telegram.org`` or a test's fake server).
        bot_token: the bot's token.
        chat_id: the trainers' group or channel id.
    """

    def __init__(self, api_base: str, bot_token: str, chat_id: str) -> None:
        self.api_base, self.bot_token, self.chat_id = api_base.rstrip("/"), bot_token, chat_id

    @property
    def enabled(self) -> bool:
        """Whether a bot token and a trainers' chat are configured."""
        return bool(self.bot_token and self.chat_id)

    def post(self, text: str) -> bool:
        """Send plain text (no parse mode: learner text is never interpreted as markup)."""
        if not self.enabled:
            return False
        try:
            status, body = _post_json(f"{self.api_base}/bot{self.bot_token}/sendMessage",
                                      {"chat_id": self.chat_id, "text": text[:4000],
                                       "disable_web_page_preview": True})
        except (urllib.error.URLError, OSError) as exc:
            log.warning("trainers' chat unreachable: %s", exc)
            return False
        if status != 200:
            log.warning("trainers' chat refused a notice (%s): %s", status, body[:200])
        return status == 200
