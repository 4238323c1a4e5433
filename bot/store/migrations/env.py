"""Alembic environment: runs on the connection handed over by :func:`bot.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from bot.store import handoff_models, plans_models  # noqa: E402,F401  (human-loop and plans tables in the metadata)
from bot.store.engine import make_engine
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL for the URL in the config instead of executing it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the caller's connection, or open one from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: pass a connection or set sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:
    # Batch mode lets later ALTERs work on SQLite, which cannot alter most constraints.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
