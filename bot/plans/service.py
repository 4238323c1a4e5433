"""The plans facade used by the actions: role model, learner profile, plan, onboarding.

The role model is re-read when trainers edit ``knowledge_base/roles/`` (checked by file
times on each use, which is cheap), like the quiz banks in :mod:`bot.wiring`.
The process-wide instance is :func:`bot.wiring.get_plans`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot.plans.onboarding import LessonChunk, Onboarding, chunks_from_index
from bot.plans.plan import Plan, build_plan
from bot.plans.roles import RoleModel, known_quiz_modules, load_default_roles, module_titles
from bot.quizzes import Quizzes
from bot.store import Learner, session_factory, session_scope
from bot.throttled import RECHECK_S, Throttled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """What the store knows about a learner's job and language."""

    learner_id: int
    role: str | None
    department: str | None
    language: str | None


def _signature(kb_dir: Path) -> tuple:
    files = [*sorted((kb_dir / "roles").glob("*.y*ml")), *sorted((kb_dir / "modules").glob("*.md")),
             *sorted((kb_dir / "quizzes").glob("*.y*ml"))]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.exists())


class Plans:
    """Role model, profiles and plans over one :class:`Quizzes`.

    Args:
        quizzes: The quiz service (store and quiz bank).
        kb_dir: The knowledge folder (roles, modules, quizzes).
        chunks: Lesson material for onboarding (default: the live index).
        onboarding_days: Overrides every track's length (``ONBOARDING_DAYS``).
        recheck_s: How long the role, module and quiz files are taken as unchanged before
            they are looked at again (:mod:`bot.throttled`; 0 looks on every use).
    """

    def __init__(self, quizzes: Quizzes, kb_dir: Path, *,
                 chunks: Callable[[], Sequence[LessonChunk]] | None = None,
                 onboarding_days: int | None = None, recheck_s: float = RECHECK_S) -> None:
        self.quizzes = quizzes
        self.kb_dir = Path(kb_dir)
        self._chunks = chunks or _index_chunks
        self._onboarding_days = onboarding_days
        self._lock = threading.Lock()
        self._loaded: tuple | None = None
        self._files = Throttled(lambda: _signature(self.kb_dir), recheck_s)
        self._model = RoleModel()
        self._titles: dict[str, str] = {}
        self._quiz_modules: set[str] = set()
        self._sessions = session_factory(quizzes.engine)
        self._onboarding: Onboarding | None = None

    # ------------------------------------------------------------------ role model

    @property
    def roles(self) -> RoleModel:
        """The current role model (reloaded after edits)."""
        signature = self._files.get()
        with self._lock:
            if signature != self._loaded:
                model, problems = load_default_roles(self.kb_dir)
                for problem in problems:
                    log.warning("role model: %s", problem)
                self._model, self._titles = model, module_titles(self.kb_dir)
                self._quiz_modules = known_quiz_modules(self.kb_dir)
                self._loaded = signature
                if self._onboarding is not None:
                    self._onboarding.roles = model
            return self._model

    @property
    def onboarding(self) -> Onboarding:
        """The onboarding service over the same store and role model."""
        model = self.roles
        if self._onboarding is None:
            self._onboarding = Onboarding(self.quizzes, model, self._chunks, default_days=self._onboarding_days)
        return self._onboarding

    # ------------------------------------------------------------------ profile

    def learner(self, channel: str, external_id: str, **profile: str | bool | None) -> int:
        """The learner id for a channel identity (created when new).

        Args:
            channel / external_id: The learner's key.
            **profile: ``consent``, ``language``, ``role``, ``department`` for a new learner
                (onboarding lessons are stored only for a learner with ``consent=True``).

        Returns:
            The learner id.
        """
        return self.quizzes.learner(channel, external_id, **profile)

    def find_learner(self, channel: str, external_id: str) -> int | None:
        """The learner id for a channel identity, or None (never creates a learner)."""
        with session_scope(self._sessions) as s:
            return s.scalar(select(Learner.id).where(Learner.channel == channel, Learner.external_id == external_id))

    def profile(self, learner_id: int) -> Profile:
        """The learner's stored role, department and language.

        Raises:
            KeyError: Unknown learner.
        """
        with session_scope(self._sessions) as s:
            row = s.get(Learner, learner_id)
            if row is None:
                raise KeyError(learner_id)
            return Profile(row.id, row.role, row.department, row.language)

    def save_profile(self, learner_id: int, **fields: str | None) -> None:
        """Store ``role``, ``department`` and/or ``language`` (None values are left alone)."""
        values = {k: v for k, v in fields.items() if v is not None}
        if values:
            self.quizzes.update_profile(learner_id, **values)

    # ------------------------------------------------------------------ plans

    def plan(self, learner_id: int | None, role_id: str) -> Plan:
        """The learner's current plan for ``role_id``.

        Args:
            learner_id: The learner, or None for one with no stored progress (no consent).
            role_id: The role.

        Raises:
            KeyError: The role is not in the role model.
        """
        model = self.roles
        role = model.get(role_id)
        if role is None:
            raise KeyError(role_id)
        progress = self.quizzes.progress(learner_id) if learner_id is not None else None
        return build_plan(role, model, progress, self._titles, self._quiz_modules)


def _index_chunks() -> list[LessonChunk]:
    """Lesson material from the live index in ``TUTOR_INDEX_DIR`` (a Plans built without a source).

    The shared Plans (:func:`bot.wiring.get_plans`) reads the shared retriever's index instead.

    Raises:
        KnowledgeIndexError: no index has been built yet.
    """
    from bot.config import load_settings
    from bot.knowledge.index import KnowledgeIndexError, current_version_dir
    from bot.knowledge.search import LoadedIndex

    live = current_version_dir(load_settings().index_dir)
    if live is None:
        raise KnowledgeIndexError("no index yet: run `kb ingest` first")
    return chunks_from_index(LoadedIndex(live))
