"""The Telegram bridge's shared state on PostgreSQL: the tests of ``tests/unit/test_bridge_store.py``
again (claims from several processes, ordered chat turns over three bridges, lease take-over,
outbox and erasure), on a fresh database each, plus where the tables live."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.channels.bridge_store import PG_SCHEMA
from bot.channels.dedup import TelegramStore

pytestmark = pytest.mark.postgres

_spec = importlib.util.spec_from_file_location(
    "postgres_test_bridge_store", Path(__file__).resolve().parents[1] / "unit" / "test_bridge_store.py")
assert _spec and _spec.loader
_shared = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _shared  # dataclasses look their module up there
_spec.loader.exec_module(_shared)
bridges = _shared.bridges  # fixture
for _attr, _value in vars(_shared).items():
    if _attr.startswith("test_") and callable(_value):
        globals()[_attr] = _value


@pytest.fixture
def store_url(postgres_database: str) -> str:
    return postgres_database


def test_tables_live_in_their_own_schema_and_opening_twice_is_harmless(store_url: str) -> None:
    first, second = TelegramStore(store_url), TelegramStore(store_url)
    try:
        assert first.engine.dialect.name == "postgresql"
        names = set(inspect(first.engine).get_table_names(schema=PG_SCHEMA))
        assert {"updates", "chat_turns", "chats", "callback_payloads", "quiz_polls", "outbox"} <= names
        assert not names & set(inspect(first.engine).get_table_names(schema="public"))
        assert first.enqueue_update("1", 10, 5, "{}") and not second.enqueue_update("1", 10, 5, "{}")
    finally:
        first.close()
        second.close()
