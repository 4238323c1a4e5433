"""Shared fixtures for the quiz and store tests (imported by those modules).

``tests/postgres`` imports the same test modules and overrides ``db_url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.quizzes import QuizBank, Quizzes, ReviewScheduler, SchedulerConfig

__all__ = ["bank", "clock", "db_url", "quizzes"]

DATA = Path(__file__).resolve().parents[1] / "data" / "quizzes"
START = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)  # a Monday, 10:00 IST


class FakeClock:
    """A settable clock for deterministic time."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'learners.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank() -> QuizBank:
    loaded, problems = QuizBank.load(DATA)
    assert problems == []
    return loaded


def make_quizzes(db_url: str, bank: QuizBank, clock: FakeClock) -> Quizzes:
    """A service with a deterministic scheduler (no fuzz) and question order."""
    return Quizzes(db_url, bank, scheduler=ReviewScheduler(SchedulerConfig(fuzz=False)), clock=clock, seed=7)


@pytest.fixture
def quizzes(db_url: str, bank: QuizBank, clock: FakeClock) -> Iterator[Quizzes]:
    service = make_quizzes(db_url, bank, clock)
    yield service
    service.engine.dispose()
