"""Apply the alembic migrations programmatically (no alembic.ini needed).

Called once at start-up by every process that uses the store. Several processes
start together (action server, console, workers, replicas), so upgrades are
serialised: on PostgreSQL by an advisory lock, on a SQLite file by an exclusive lock
on a file beside it (pysqlite runs DDL outside a transaction, so two processes would
otherwise both try to create the same table).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from bot.store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant naming the advisory lock that guards migrations on PostgreSQL.
_ADVISORY_LOCK_ID = 6_180_339


def alembic_config(url: str | None = None):  # -> alembic.config.Config
    """Build an alembic Config pointing at this package's migrations.

    Args:
        url: Optional database URL, recorded for alembic's offline mode.

    Returns:
        An :class:`alembic.config.Config`.
    """
    from alembic.config import Config  # lazy: only needed at start-up

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the latest).

    Args:
        url_or_engine: A database URL or an engine from :func:`bot.store.make_engine`.
        revision: Target alembic revision.

    Raises:
        sqlalchemy.exc.OperationalError: If the database cannot be reached.
    """
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with _sqlite_file_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on ``<database>.migrate.lock`` for a file SQLite database."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    """Return the database's alembic revision, or None if never migrated.

    Args:
        engine: An engine.

    Returns:
        The revision id string or None.
    """
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
