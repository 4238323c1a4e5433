"""The store, quiz, scheduler and progress tests again, on a real PostgreSQL.

The unit modules are imported by path and their tests re-collected here; only the
``db_url`` fixture changes (a fresh database per test from ``postgres_database``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
if str(UNIT) not in sys.path:
    sys.path.insert(0, str(UNIT))  # the unit modules import their shared fixtures from there

from quiz_support import *  # noqa: E402, F403  (pytest fixtures: clock, bank, quizzes)

pytestmark = pytest.mark.postgres

_SHARED = ("test_store", "test_quiz_session", "test_scheduler", "test_progress")


def _load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"postgres_{name}", UNIT / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


for _name in _SHARED:
    _module = _load(_name)
    for _attr, _value in vars(_module).items():
        if _attr.startswith("test_") and callable(_value):
            globals()[f"{_attr}__{_name.removeprefix('test_')}"] = _value


@pytest.fixture
def db_url(postgres_database: str) -> str:
    return postgres_database


def test_runs_on_postgresql(quizzes) -> None:
    assert quizzes.engine.dialect.name == "postgresql"
