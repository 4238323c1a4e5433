"""The human loop: unanswered questions reach trainers, trainers' answers reach learners.

The functions below are what the Rasa actions call; they use one process-wide
:class:`~bot.handoff.service.HumanLoop` built from the environment on first use.

- :func:`record_unanswered` - a question below the evidence gate joins the trainers'
  queue (de-duplicated across learners by similarity).
- :func:`request_trainer` - "talk to a trainer": queued, and in office hours a live
  handoff starts (the bot goes quiet; see ``rasa_plugins/handoff_policy.py``).
- The trainer console (``bot.console``) and ``tutor-admin`` answer items; answers go to
  every asker through their channel and, when asked, into ``knowledge_base/faq/``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from bot.handoff.service import HumanLoop, TrainerRequest, channel_of

_lock = threading.Lock()
_loop: HumanLoop | None = None
_key: tuple[str | None, ...] | None = None
_ENV_KEYS = ("DATABASE_URL", "TUTOR_STATE_DIR", "TUTOR_KB_DIR")


def get_human_loop() -> HumanLoop:
    """The process-wide :class:`HumanLoop` (built and migrated on first use).

    Rebuilt if the database or knowledge folder settings change (tests switch them).
    """
    global _loop, _key
    key = tuple(os.environ.get(name) for name in _ENV_KEYS)
    with _lock:
        if _loop is None or (key != _key and _key is not None):
            _loop, _key = HumanLoop.from_settings(), key
        return _loop


def set_human_loop(loop: HumanLoop | None) -> None:
    """Replace the process-wide instance (tests); None rebuilds from the environment next time."""
    global _loop, _key
    with _lock:
        _loop, _key = loop, None


def record_unanswered(sender_id: str, query: str, sources: Sequence[str], channel: str = "",
                      language: str = "en") -> int:
    """File a declined question for the trainers; returns the queue reference."""
    return get_human_loop().record_unanswered(sender_id, query, sources, channel, language)


def record_answered(sender_id: str, query: str, sources: Sequence[str], channel: str = "") -> None:
    """Log an answered question for the analytics."""
    get_human_loop().record_answered(sender_id, query, sources, channel)


def request_trainer(sender_id: str, question: str, channel: str = "", language: str = "en") -> int:
    """Queue a "talk to a trainer" request; returns the queue reference."""
    return get_human_loop().request_trainer(sender_id, question, channel, language).ref


__all__ = ["HumanLoop", "TrainerRequest", "channel_of", "get_human_loop", "record_answered",
           "record_unanswered", "request_trainer", "set_human_loop"]
