"""The store, quiz, scheduler and progress tests again, on a real PostgreSQL.

The unit modules are imported by path and their tests re-collected here; only the
``db_url`` fixture changes (a fresh database per test from ``postgres_database``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
if str(UNIT) not in sys.path:
    sys.path.insert(0, str(UNIT))  # the unit modules import their shared fixtures from there

from quiz_support import *  # noqa: E402, F403  (pytest fixtures: clock, bank, quizzes)
from rerun_unit import load_unit_module, unit_tests_in  # noqa: E402

pytestmark = pytest.mark.postgres

_SHARED = ("test_store", "test_quiz_session", "test_scheduler", "test_progress")
for _name in _SHARED:
    globals().update(unit_tests_in(load_unit_module(_name), suffix=f"__{_name.removeprefix('test_')}"))


@pytest.fixture
def db_url(postgres_database: str) -> str:
    return postgres_database


def test_runs_on_postgresql(quizzes) -> None:
    assert quizzes.engine.dialect.name == "postgresql"
