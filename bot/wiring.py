"""The process-wide services, built lazily on first use: the one place that wires them.

- :func:`get_retriever` - the :class:`~bot.knowledge.search.Retriever` over the configured
  index folder (it follows new index versions itself);
- :func:`get_quizzes` - the :class:`~bot.quizzes.Quizzes` (store and quiz bank); the quiz
  banks are reloaded when trainers edit ``knowledge_base/quizzes/`` (the folder is looked at
  no more than once a second, :mod:`bot.throttled`);
- :func:`get_plans` - the :class:`~bot.plans.service.Plans` over those Quizzes;
- :func:`get_human_loop` - the :class:`~bot.handoff.service.HumanLoop`.

rasa_sdk instantiates every Action with no arguments when the action server starts, so
nothing heavy happens at import time: each getter builds its service on first call (under
a lock, so two threads get one instance) and actions call the getters when they first run.
The services share the retriever's embedders where they run in one process (queue
de-duplication, :func:`knowledge_watcher`), so MiniLM is loaded once; they receive them
as arguments, since the floors below this module must not import it.

Tests inject fakes through the actions' constructors, or process-wide with
:func:`override` (e.g. ``override(human_loop=loop)``); :func:`reset` forgets every instance,
so the next call builds them again from the environment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.config import load_settings
from bot.throttled import Throttled

if TYPE_CHECKING:  # heavy: imported for real on first use
    from bot.handoff.service import HumanLoop
    from bot.knowledge.embedders import Embedder
    from bot.knowledge.search import Retriever
    from bot.knowledge.watcher import KnowledgeWatcher
    from bot.plans.service import Plans
    from bot.quizzes import Quizzes
    from bot.quizzes.passage_quiz import PassageQuizzes

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Lazy(Generic[T]):
    """One process-wide instance, built by ``build`` on first :meth:`get` (thread-safe).

    Args:
        build: makes the instance (called at most once until :meth:`set`).
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()  # one per service: building the plans may build the quizzes meanwhile

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def set(self, value: T | None) -> None:
        with self._lock:
            self._value = value


# ---------------------------------------------------------------------- builders

def _build_retriever() -> Retriever:
    from bot.knowledge.search import Retriever

    return Retriever(load_settings().index_dir)


def _build_quizzes() -> Quizzes:
    from bot.quizzes import Quizzes

    settings = load_settings()
    signature = _banks_signature(settings)  # before loading: an edit meanwhile reloads
    quizzes, problems = Quizzes.from_settings(settings)
    for problem in problems:
        log.warning("quiz bank: %s", problem)
    quizzes.add_items(get_passage_quizzes().all_items())
    _banks.loaded(quizzes, signature)
    return quizzes


def _index_chunks() -> list:
    from bot.plans.onboarding import chunks_from_index

    return chunks_from_index(get_retriever().index)


def _build_plans() -> Plans:
    from bot.plans.service import Plans

    settings = load_settings()
    return Plans(get_quizzes(), settings.kb_dir, chunks=_index_chunks,
                 onboarding_days=settings.onboarding_days or None)


def retriever_embedder(name: str) -> Embedder:
    """The retriever's embedder called ``name`` (built once, shared by every user in this process).

    Args:
        name: e.g. ``minilm``.

    Returns:
        The embedder (weights load on first use).
    """
    return get_retriever().embedder(name)


def _build_human_loop() -> HumanLoop:
    from bot.handoff.service import HumanLoop

    return HumanLoop.from_settings(embedder=retriever_embedder)


_retriever: _Lazy[Retriever] = _Lazy(_build_retriever)
_quizzes: _Lazy[Quizzes] = _Lazy(_build_quizzes)
_plans: _Lazy[Plans] = _Lazy(_build_plans)
_human_loop: _Lazy[HumanLoop] = _Lazy(_build_human_loop)


# ---------------------------------------------------------------------- quiz banks follow edits

class _BankFollower:
    """Reloads the shared Quizzes' banks when the files under ``quizzes/`` change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, tuple] = {}  # id(quizzes) -> signature its bank was loaded at
        # The folder and its signature, looked at no more than once a second (bot.throttled).
        self._folder = Throttled(self._look)

    @staticmethod
    def _look() -> tuple[Path, Path, tuple]:
        settings = load_settings()
        folder = settings.kb_dir / "quizzes"
        return settings.kb_dir, folder, _banks_signature(settings)

    def loaded(self, quizzes: Quizzes, signature: tuple) -> None:
        """``quizzes``' bank was loaded from the folder at ``signature``."""
        with self._lock:
            self._seen = {id(quizzes): signature}

    def follow(self, quizzes: Quizzes) -> None:
        """Reload ``quizzes``' bank if the folder changed since it was loaded."""
        kb_dir, folder, signature = self._folder.get()
        with self._lock:
            seen = self._seen.get(id(quizzes))
            if seen is None:  # injected (override): its bank is taken as current
                self._seen = {id(quizzes): signature}
            elif seen[0] == signature[0] and seen != signature:
                # Only passage items were drafted (here or by another replica): add them, no reload.
                quizzes.add_items(get_passage_quizzes().all_items())
                self._seen[id(quizzes)] = signature
            elif seen != signature:
                from bot.quizzes import QuizBank

                bank, problems = QuizBank.load(folder, base=kb_dir)
                for problem in problems:
                    log.warning("quiz bank: %s", problem)
                quizzes.bank = bank.with_items(get_passage_quizzes().all_items())
                self._seen[id(quizzes)] = signature
                log.info("quiz banks reloaded: %d items", len(bank.items))

    def forget(self) -> None:
        with self._lock:
            self._seen = {}
        self._folder.expire()


def _banks_signature(settings: Any) -> tuple:
    # Passage items another replica drafted count as a bank edit: this one loads them too.
    return bank_signature(settings.kb_dir / "quizzes"), bank_signature(passage_quiz_folder(settings))


def passage_quiz_folder(settings: Any) -> Path:
    """Where items drafted from passages ("Quiz me on this") are cached: ``<state>/passage_quizzes``.

    Args:
        settings: The loaded settings.

    Returns:
        The folder (it may not exist yet).
    """
    return Path(settings.state_dir) / "passage_quizzes"


def bank_signature(folder: Path) -> tuple:
    """Name, modification time and size of every ``*.yml`` under ``folder`` (cheap to compare).

    Args:
        folder: the quiz-bank folder.

    Returns:
        A sorted tuple; empty when the folder does not exist.
    """
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


_banks = _BankFollower()


# ---------------------------------------------------------------------- the getters

def get_retriever() -> Retriever:
    """The shared retriever over the configured index folder (follows new versions)."""
    return _retriever.get()


def get_passage_quizzes() -> PassageQuizzes:
    """The cache of items drafted from passages, under the state folder (cheap to build)."""
    from bot.quizzes.passage_quiz import PassageQuizzes

    return PassageQuizzes(passage_quiz_folder(load_settings()))


def get_quizzes() -> Quizzes:
    """The shared :class:`~bot.quizzes.Quizzes` (quiz banks follow edits to the folder)."""
    quizzes = _quizzes.get()
    _banks.follow(quizzes)
    return quizzes


def get_plans() -> Plans:
    """The shared :class:`~bot.plans.service.Plans` over :func:`get_quizzes`'s Quizzes."""
    get_quizzes()  # the quiz banks follow edits here too
    return _plans.get()


def get_human_loop() -> HumanLoop:
    """The shared :class:`~bot.handoff.service.HumanLoop` (store migrated on first use).

    Its queue de-duplication embeds with the retriever's embedder (:func:`retriever_embedder`).
    """
    return _human_loop.get()


def knowledge_watcher(kb_dir: Path, index_dir: Path, embedder_names: str) -> KnowledgeWatcher:
    """A watcher that re-indexes with the retriever's embedders (one copy of each model in the process).

    Args:
        kb_dir: the knowledge folder.
        index_dir: the index folder.
        embedder_names: comma-separated embedder names (``TUTOR_EMBEDDERS``).

    Returns:
        The watcher, not started.

    Raises:
        ValueError: no embedder named.
    """
    from bot.knowledge.watcher import KnowledgeWatcher

    names = [name.strip() for name in embedder_names.split(",") if name.strip()]
    if not names:
        raise ValueError("no embedder configured")
    return KnowledgeWatcher(kb_dir, index_dir, embedders=[retriever_embedder(name) for name in names])


# ---------------------------------------------------------------------- tests

_UNSET: Any = object()


def override(*, retriever: Any = _UNSET, quizzes: Any = _UNSET, plans: Any = _UNSET,
             human_loop: Any = _UNSET) -> None:
    """Replace process-wide services (tests); a service passed as None is built afresh next time.

    Services not named are left as they are, except that a new Quizzes object also drops the
    shared Plans (built over the old one) unless ``plans`` is given too. A Quizzes object passed
    here is used as it is (its quiz bank is reloaded only when the folder changes later).

    Args:
        retriever / quizzes / plans / human_loop: the instance to hand out.
    """
    for holder, value in ((_retriever, retriever), (_quizzes, quizzes), (_plans, plans),
                          (_human_loop, human_loop)):
        if value is not _UNSET:
            holder.set(value)
    if quizzes is not _UNSET:
        _banks.forget()
        if plans is _UNSET:
            _plans.set(None)


def reset() -> None:
    """Forget every process-wide service: the next call of each getter builds it from the environment.

    Instances already handed out stay usable; they are just no longer shared.
    """
    override(retriever=None, quizzes=None, plans=None, human_loop=None)
