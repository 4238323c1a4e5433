"""Console sign-in bookkeeping on a real PostgreSQL: the lockout holds under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.console.auth import LOCK_WINDOW_S, MAX_FAILURES, name_hash
from bot.handoff.records import HandoffRecords
from bot.store import make_engine, migrate, session_factory

pytestmark = pytest.mark.postgres


def _records(url: str, count: int) -> list[HandoffRecords]:
    """``count`` record sets with their own engines, as separate console processes would have."""
    migrate(url)
    return [HandoffRecords(session_factory(make_engine(url))) for _ in range(count)]


def test_concurrent_attempts_from_several_consoles_stay_within_the_limit(postgres_database: str) -> None:
    records = _records(postgres_database, 3)
    key = name_hash("asha")
    with ThreadPoolExecutor(12) as pool:
        granted = list(pool.map(lambda i: records[i % 3].reserve_login_attempt(key, LOCK_WINDOW_S, MAX_FAILURES),
                                range(40)))
    assert 0 < sum(g is not None for g in granted) <= MAX_FAILURES
    records[0].clear_login_attempts(key)
    assert records[1].reserve_login_attempt(key, LOCK_WINDOW_S, MAX_FAILURES) is not None


def test_a_password_change_drops_the_sessions_there(postgres_database: str) -> None:
    records = _records(postgres_database, 1)[0]
    records.create_account("asha", "scrypt$old", "trainer")
    records.save_console_session("a" * 64, "asha", "trainer", "csrf", datetime.now(UTC) + timedelta(hours=1))
    assert records.upgrade_password_hash("asha", "scrypt$old", "scrypt$stronger")
    assert records.console_session("a" * 64) is not None  # an upgrade of the same password keeps sessions
    assert records.set_password("asha", "scrypt$new")
    assert records.console_session("a" * 64) is None
