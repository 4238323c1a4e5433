"""Process-wide services shared by the actions, built lazily on first use.

rasa_sdk instantiates every Action with no arguments when the action server starts,
so nothing heavy may happen at import or construction time; actions call these
getters when they first run (or receive a fake in tests through their constructor).
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path

from bot.config import load_settings
from bot.knowledge.search import Retriever

log = logging.getLogger(__name__)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def get_retriever() -> Retriever:
    """The retriever over the configured index folder (follows new versions)."""
    with _lock:
        return Retriever(load_settings().index_dir)


class _LearningHolder:
    """Keeps one :class:`bot.learning.Learning`, reloading quiz banks when trainers edit them."""

    def __init__(self) -> None:
        self._learning = None
        self._signature: tuple | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _bank_signature(folder: Path) -> tuple:
        if not folder.is_dir():
            return ()
        # rglob: trainers approving generated items edit quizzes/generated/*.quiz.yml.
        # lstat: a dangling link must be reported by the bank loader, not break every quiz call.
        stamps = []
        for path in folder.rglob("*.yml"):
            try:
                info = path.lstat()
            except OSError:  # removed while listing: the next look sees it gone
                continue
            stamps.append((str(path.relative_to(folder)), info.st_mtime_ns, info.st_size))
        return tuple(sorted(stamps))

    def get(self):
        from bot.learning import Learning, QuizBank

        settings = load_settings()
        folder = settings.kb_dir / "quizzes"
        signature = self._bank_signature(folder)
        with self._lock:
            if self._learning is None:
                self._learning, problems = Learning.from_settings(settings)
                self._signature = signature
                for problem in problems:
                    log.warning("quiz bank: %s", problem)
            elif signature != self._signature:
                bank, problems = QuizBank.load(folder, base=settings.kb_dir)
                for problem in problems:
                    log.warning("quiz bank: %s", problem)
                self._learning.bank = bank
                self._signature = signature
                log.info("quiz banks reloaded: %d items", len(bank.items))
            return self._learning


_learning_holder = _LearningHolder()


def get_learning():
    """The shared :class:`bot.learning.Learning` (quiz banks follow edits to the folder)."""
    return _learning_holder.get()
