"""The Telegram chats' shared message budget on PostgreSQL: the tests of
``tests/unit/test_chat_budget.py`` again (among them two limiters hammering one chat from
eight threads, allowed exactly the burst), on a fresh database each, plus where the table lives."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.channels.bridge_tables import PG_SCHEMA, open_bridge_engine

pytestmark = pytest.mark.postgres

_spec = importlib.util.spec_from_file_location(
    "postgres_test_chat_budget", Path(__file__).resolve().parents[1] / "unit" / "test_chat_budget.py")
assert _spec and _spec.loader
_shared = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _shared
_spec.loader.exec_module(_shared)
engines = _shared.engines  # fixture
for _attr, _value in vars(_shared).items():
    if _attr.startswith("test_") and callable(_value):
        globals()[_attr] = _value


@pytest.fixture
def store_url(postgres_database: str) -> str:
    return postgres_database


def test_the_budgets_live_in_the_bridges_schema(store_url: str) -> None:
    engine = open_bridge_engine(store_url)
    try:
        assert "chat_budgets" in inspect(engine).get_table_names(schema=PG_SCHEMA)
    finally:
        engine.dispose()
