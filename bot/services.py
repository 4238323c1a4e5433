"""Process-wide services shared by the actions, built lazily on first use.

rasa_sdk instantiates every Action with no arguments when the action server starts,
so nothing heavy may happen at import or construction time; actions call these
getters when they first run (or receive a fake in tests through their constructor).
"""

from __future__ import annotations

import threading
from functools import lru_cache

from bot.config import load_settings
from bot.knowledge.search import Retriever

_lock = threading.Lock()


@lru_cache(maxsize=1)
def get_retriever() -> Retriever:
    """The retriever over the configured index folder (follows new versions)."""
    with _lock:
        return Retriever(load_settings().index_dir)
