"""Learner data store (SQLAlchemy 2; SQLite by default, PostgreSQL at scale).

Usage::

    from bot.pseudonyms import pseudonym
    from bot.store import make_engine, migrate, session_factory, session_scope
    engine = make_engine("sqlite:///.state/learners.db")
    migrate(engine)                       # alembic upgrade head, idempotent
    factory = session_factory(engine)
    with session_scope(factory) as s:
        learner = get_or_create_learner(s, "telegram", pseudonym("telegram", "123", salt), now)

Tables: ``learners``, ``quiz_sessions``, ``attempts`` (unique per
learner/session/item/attempt_no), ``review_states`` (FSRS card per learner and item),
``mastery`` (per learner, competency or module). Migrations live in
``bot/store/migrations/versions/NNNN_*.py``.
"""

from bot.store import handoff_models as _handoff_models  # noqa: E402,F401  [human loop] registers its tables in Base.metadata
from bot.store import plans_models as _plans_models  # noqa: E402,F401  [plans] registers its tables in Base.metadata
from bot.store import reminder_models as _reminder_models  # noqa: E402,F401  [quizzes] review reminders table
from bot.store.engine import make_engine, normalise_url, session_factory, session_scope
from bot.store.migrate import current_revision, migrate
from bot.store.models import (
    LEARNER_TABLES,
    Attempt,
    Base,
    Learner,
    Mastery,
    QuizSession,
    ReviewState,
)
from bot.store.repo import get_or_create_learner, insert_attempt_once

__all__ = [
    "LEARNER_TABLES",
    "Attempt",
    "Base",
    "Learner",
    "Mastery",
    "QuizSession",
    "ReviewState",
    "current_revision",
    "get_or_create_learner",
    "insert_attempt_once",
    "make_engine",
    "migrate",
    "normalise_url",
    "session_factory",
    "session_scope",
]
