"""Where the Telegram bridge keeps its state: tables, engine, idempotent creation.

The same SQLAlchemy Core code runs on a SQLite file (default ``.state/telegram.db``, one
bridge) and on PostgreSQL (``TELEGRAM_STORE_URL``; scaled mode sets it to its
``DATABASE_URL`` so every bridge shares one state). On PostgreSQL the tables live in their
own schema, :data:`PG_SCHEMA`, beside the learner store's tables and out of alembic's way;
on SQLite they keep the names older bridges used, so an existing ``telegram.db`` is reused.

Tables (all owned by the bridge):

- ``updates``: every update a bridge took on, keyed by ``(bot_id, update_id)``. Inserting
  the row is the claim (``INSERT .. ON CONFLICT DO NOTHING``: exactly one bridge wins); a
  chat's rows wait there (``payload``) until the bridge holding the chat's turn takes them
  in ``update_id`` order (:mod:`bot.channels.chat_turns`). Taking one clears its payload
  and chat id, so only the update id stays, for de-duplication.
- ``chat_turns``: the lease on a chat's turn (holder, lease end).
- ``chats``, ``callback_payloads``, ``quiz_polls``: see :mod:`bot.channels.bridge_state`.
- ``outbox``: see :mod:`bot.channels.outbox`.
- ``proactive_requests``: messages other processes (the background worker, the trainer
  console) leave for a learner when the bridges share a database server; see
  :mod:`bot.channels.proactive_queue`.
- ``chat_budgets``: each chat's message budget (token bucket), shared by every bridge;
  see :mod:`bot.channels.chat_budget`.

Creation follows :mod:`bot.store.migrate`: processes that start together are serialised
(an advisory lock on PostgreSQL, a lock file beside a SQLite file) and creation is
idempotent (``CREATE SCHEMA IF NOT EXISTS``, ``create_all`` with ``checkfirst``). The
tables only ever gain new tables; a change to an existing one needs an alembic migration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from bot.store.engine import make_engine
from bot.store.migrate import _sqlite_file_lock

#: PostgreSQL schema of the bridge's tables.
PG_SCHEMA = "telegram"
#: Advisory lock naming the bridge's table creation (the learner store uses another).
_ADVISORY_LOCK_ID = 6_180_340

metadata = MetaData()

updates = Table(
    "updates", metadata,
    Column("bot_id", Text, primary_key=True),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chat_id", BigInteger, nullable=True),  # NULL once taken (or for chat-less updates)
    Column("payload", Text, nullable=True),  # the update's JSON while it waits; NULL once taken
    Column("received_at", Float, nullable=False),
    Column("taken_at", Float, nullable=True),
)
Index("updates_waiting", updates.c.chat_id, updates.c.update_id)

chat_turns = Table(
    "chat_turns", metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("holder", Text, nullable=False),
    Column("lease_until", Float, nullable=False),
)

chats = Table(
    "chats", metadata,
    Column("sender", Text, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

callback_payloads = Table(
    "callback_payloads", metadata,
    Column("key", Text, primary_key=True),
    Column("payload", Text, nullable=False),
    Column("used_at", Float, nullable=False),
)
Index("callback_payloads_used", callback_payloads.c.used_at)

quiz_polls = Table(
    "quiz_polls", metadata,
    Column("poll_id", Text, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("sender", Text, nullable=False),
    Column("item_id", Text, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("answers", Text, nullable=False),
    Column("sent_at", Float, nullable=False),
    Column("answered", Integer, nullable=False, server_default=text("0")),
)
Index("quiz_polls_chat", quiz_polls.c.chat_id)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("parse_mode", Text),
    Column("markup", Text),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    sqlite_autoincrement=True,  # ids never reused: they order a chat's messages
)
Index("outbox_chat", outbox.c.chat_id, outbox.c.id)

proactive_requests = Table(
    "proactive_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender", Text, nullable=False),
    Column("replies", Text, nullable=False),  # JSON: Rasa-shaped messages
    Column("created_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False, server_default=text("0")),  # a bridge is delivering it
    sqlite_autoincrement=True,  # ids order a learner's messages
)
Index("proactive_requests_lease", proactive_requests.c.lease_until, proactive_requests.c.id)

chat_budgets = Table(
    "chat_budgets", metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tokens", Float, nullable=False),  # messages left, after the last refill
    Column("updated_at", Float, nullable=False),  # seconds since the epoch of the last refill
    Column("verdict", Integer, nullable=False),  # of the last message: see bot.channels.chat_budget
)
Index("chat_budgets_updated", chat_budgets.c.updated_at)  # expiry of idle chats' rows


def store_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL for the bridge store.

    Args:
        url_or_path: A database URL, or the path of a SQLite file.

    Returns:
        The URL.
    """
    return f"sqlite:///{url_or_path}" if isinstance(url_or_path, Path) else url_or_path


def open_bridge_engine(url_or_path: str | Path) -> Engine:
    """Open the bridge store and create its tables if missing.

    Args:
        url_or_path: ``TELEGRAM_STORE_URL`` (SQLite or PostgreSQL), or a SQLite file path.

    Returns:
        An engine whose statements reach the bridge's tables (on PostgreSQL through
        ``schema_translate_map``, so the same table objects serve both databases).

    Raises:
        sqlalchemy.exc.OperationalError: The database cannot be reached.
    """
    engine = make_engine(store_url(url_or_path))
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(schema_translate_map={None: PG_SCHEMA})
    create_tables(engine)
    return engine


def create_tables(engine: Engine) -> None:
    """Create the schema and tables that do not exist yet, one starting process at a time.

    Args:
        engine: From :func:`open_bridge_engine`.
    """
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"'))
        metadata.create_all(connection, checkfirst=True)


def insert_ignoring_conflicts(engine: Engine, table: Table, **values: Any) -> Insert:
    """``INSERT .. ON CONFLICT DO NOTHING RETURNING <key>`` in the engine's dialect (the atomic claim).

    Args:
        engine: The store's engine.
        table: Target table.
        **values: Column values.

    Returns:
        The statement; run it with :func:`inserted`.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: SQLAlchemy's psycopg dialect reports -1 for single-row inserts.
    return dialect.insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)


def inserted(conn: Connection, statement: Insert) -> bool:
    """Run a statement from :func:`insert_ignoring_conflicts`.

    Args:
        conn: A connection inside a transaction.
        statement: The insert.

    Returns:
        ``True`` when the row was inserted, ``False`` when its key existed.
    """
    return conn.execute(statement).first() is not None


def upsert(engine: Engine, table: Table, keys: list[str], values: dict[str, Any], update: list[str]) -> Insert:
    """``INSERT .. ON CONFLICT (keys) DO UPDATE SET update = excluded.update``.

    Args:
        engine: The store's engine.
        table: Target table.
        keys: The conflicting key columns.
        values: Column values of the new row.
        update: Columns overwritten when the row exists.

    Returns:
        The statement.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    return statement.on_conflict_do_update(index_elements=keys,
                                           set_={name: statement.excluded[name] for name in update})
