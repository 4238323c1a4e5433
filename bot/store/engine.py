"""Engine and session helpers for the learner store.

SQLite (the embedded default) and PostgreSQL (scaled mode) are both supported; the
URL decides. Connections are checked before use (``pool_pre_ping``) so a restarted
database does not surface as an error on the first request after it. Every engine
hides statement parameters in errors, so learner data cannot reach a log that way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.orm import Session, sessionmaker

#: Seconds to wait for a lock (SQLite) or a connection (PostgreSQL) before failing.
CONNECT_TIMEOUT_S = 10
#: Longest a single statement may run on PostgreSQL; learner queries are all small.
STATEMENT_TIMEOUT_MS = 15_000


def normalise_url(url: str) -> str:
    """Pick the psycopg 3 driver for bare ``postgresql://`` URLs.

    Args:
        url: A SQLAlchemy database URL.

    Returns:
        The URL, with ``postgresql+psycopg`` when no driver was named.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with pre-ping, timeouts, hidden parameters and (SQLite) WAL and foreign keys.

    Args:
        url: Database URL, e.g. ``sqlite:///.state/learners.db`` or
            ``postgresql+psycopg://user@host/db``.
        **kwargs: Extra arguments for :func:`sqlalchemy.create_engine`.

    Returns:
        A ready engine. For file SQLite databases the parent folder is created.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    # hide_parameters: a failing statement's error (and so any log.exception) must not carry
    # its bound values, which are learner messages, names and answers.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Action-server threads share the pool; SQLite's own lock does the serialising.
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT_S, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        }
        options["pool_timeout"] = CONNECT_TIMEOUT_S
    options.update(kwargs)
    engine = create_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run during a write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={CONNECT_TIMEOUT_S * 1000}")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine`` (objects stay usable after commit).

    Args:
        engine: The engine from :func:`make_engine`.

    Returns:
        A :class:`sessionmaker`.
    """
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    Args:
        factory: A session factory from :func:`session_factory`.

    Yields:
        An open session inside a transaction.
    """
    with factory() as session, session.begin():
        yield session


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE run through ``Session.execute`` matched.

    ``Session.execute`` is typed to return a plain :class:`~sqlalchemy.engine.Result`;
    for DML it is a :class:`~sqlalchemy.engine.CursorResult`, which carries ``rowcount``
    (SQLAlchemy's documented way to read it is this cast).

    Args:
        result: What ``session.execute(update(...))`` or ``delete(...)`` returned.

    Returns:
        The number of rows the statement matched.
    """
    return cast(CursorResult[Any], result).rowcount
