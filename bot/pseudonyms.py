"""The one recipe that turns a channel's user id into a pseudonym.

A keyed hash (HMAC-SHA256 with the deployment's pseudonym salt, which lives outside
every database) cannot be reversed without the salt, so the learner store and Rasa's
trackers hold pseudonyms, never Telegram chat ids or web session ids. This module
imports nothing from the project: the store and the channels both use it.
"""

from __future__ import annotations

import hashlib
import hmac

#: Prefix of the Rasa sender ids the Telegram bridge uses.
TELEGRAM_SENDER_PREFIX = "tg-"


def pseudonym(channel: str, raw_id: str, salt: str) -> str:
    """Derive a stable pseudonymous id from a channel's user id.

    Args:
        channel: Channel name, e.g. ``"telegram"``.
        raw_id: The channel's own id for the user (a Telegram chat id, a web session id).
        salt: Secret key (e.g. from the state folder's secrets).

    Returns:
        A 32-character hex string.
    """
    digest = hmac.new(salt.encode(), f"{channel}:{raw_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def telegram_sender(chat_id: int, salt: str) -> str:
    """The Rasa sender id for a Telegram chat: ``tg-`` + :func:`pseudonym` of the chat id.

    Args:
        chat_id: Telegram chat id.
        salt: The pseudonym salt.

    Returns:
        ``tg-`` followed by 32 hex digits.
    """
    return TELEGRAM_SENDER_PREFIX + pseudonym("telegram", str(chat_id), salt)
