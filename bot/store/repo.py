"""Small data-access helpers shared by :mod:`bot.quizzes`.

Everything here takes an open :class:`~sqlalchemy.orm.Session`; the caller owns the
transaction (see :func:`bot.store.session_scope`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import Attempt, Learner


def get_or_create_learner(session: Session, channel: str, external_id: str, now: datetime, **profile: Any) -> Learner:
    """Return the learner for ``(channel, external_id)``, creating it if new.

    Safe under concurrent first contact from two replicas: a lost insert race is
    caught (inside a savepoint) and the winner's row is returned.

    Args:
        session: Open session.
        channel: Channel name.
        external_id: Pseudonymous id (see :func:`bot.pseudonyms.pseudonym`).
        now: Current time (aware UTC).
        **profile: Optional ``language``, ``role``, ``department``, ``consent`` for a new learner.

    Returns:
        The :class:`Learner` row.
    """
    query = select(Learner).where(Learner.channel == channel, Learner.external_id == external_id)
    learner = session.scalars(query).one_or_none()
    if learner is not None:
        learner.last_seen_at = now
        return learner
    consent = bool(profile.pop("consent", False))
    learner = Learner(
        channel=channel,
        external_id=external_id,
        created_at=now,
        last_seen_at=now,
        consent=consent,
        consent_at=now if consent else None,
        **profile,
    )
    try:
        with session.begin_nested():
            session.add(learner)
    except IntegrityError:
        learner = session.scalars(query).one()
    return learner


#: The unique key of an attempt: a retried write with the same key is a duplicate.
_ATTEMPT_KEY = ["learner_id", "session_id", "item_id", "attempt_no"]


def insert_attempt_once(session: Session, values: dict[str, Any]) -> bool:
    """Insert an attempt unless one with the same unique key exists.

    Uses the dialect's ``INSERT ... ON CONFLICT DO NOTHING`` so a retried or concurrent
    duplicate write neither fails nor double counts.

    Args:
        session: Open session.
        values: Column values for :class:`Attempt` (must include the key columns
            ``learner_id, session_id, item_id, attempt_no``).

    Returns:
        True if a row was inserted, False if it was a duplicate.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Executable = (
            pg_insert(Attempt).values(**values).on_conflict_do_nothing(index_elements=_ATTEMPT_KEY)
            .returning(Attempt.id)
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = (
            sqlite_insert(Attempt).values(**values).on_conflict_do_nothing(index_elements=_ATTEMPT_KEY)
            .returning(Attempt.id)
        )
    else:  # pragma: no cover - other engines: portable fallback via a savepoint
        try:
            with session.begin_nested():
                session.add(Attempt(**values))
            return True
        except IntegrityError:
            return False
    # RETURNING rather than rowcount: drivers do not all report rowcount for this statement.
    return session.execute(statement).scalar() is not None
