"""The Telegram chats' shared message budget on PostgreSQL: the tests of
``tests/unit/test_chat_budget.py`` again (among them two limiters hammering one chat from
eight threads, allowed exactly the burst), on a fresh database each, plus where the table lives."""

from __future__ import annotations

import pytest
from rerun_unit import load_unit_module, unit_tests_in
from sqlalchemy import inspect

from bot.channels.bridge_tables import PG_SCHEMA, open_bridge_engine

pytestmark = pytest.mark.postgres

_shared = load_unit_module("test_chat_budget")
engines = _shared.engines  # fixture
globals().update(unit_tests_in(_shared))


@pytest.fixture
def store_url(postgres_database: str) -> str:
    return postgres_database


def test_the_budgets_live_in_the_bridges_schema(store_url: str) -> None:
    engine = open_bridge_engine(store_url)
    try:
        assert "chat_budgets" in inspect(engine).get_table_names(schema=PG_SCHEMA)
    finally:
        engine.dispose()
