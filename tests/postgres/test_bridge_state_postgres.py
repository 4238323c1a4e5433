"""The Telegram bridge's shared state on PostgreSQL: the tests of ``tests/unit/test_bridge_state.py``
again (claims from several processes, ordered chat turns over three bridges, lease take-over,
outbox and erasure), on a fresh database each, plus where the tables live."""

from __future__ import annotations

from pathlib import Path

import pytest
from rerun_unit import load_unit_module, unit_tests_in
from sqlalchemy import inspect

from bot.channels.bridge_state import BridgeState
from bot.channels.bridge_tables import PG_SCHEMA

pytestmark = pytest.mark.postgres

_shared = load_unit_module("test_bridge_state")
bridges = _shared.bridges  # fixture
globals().update(unit_tests_in(_shared))


@pytest.fixture
def store_url(postgres_database: str) -> str:
    return postgres_database


def test_tables_live_in_their_own_schema_and_opening_twice_is_harmless(store_url: str) -> None:
    first, second = BridgeState(store_url), BridgeState(store_url)
    try:
        assert first.engine.dialect.name == "postgresql"
        names = set(inspect(first.engine).get_table_names(schema=PG_SCHEMA))
        assert {"updates", "chat_turns", "chats", "callback_payloads", "quiz_polls", "outbox"} <= names
        assert not names & set(inspect(first.engine).get_table_names(schema="public"))
        assert first.enqueue_update("1", 10, 5, "{}") and not second.enqueue_update("1", 10, 5, "{}")
    finally:
        first.close()
        second.close()


def test_erasure_reaches_the_shared_store_without_any_bridge_running(store_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.outbox import OutgoingMessage
    from bot.privacy import erase_learner
    from bot.quizzes import QuizBank, Quizzes
    from bot.runner import free_port

    bridge_state = BridgeState(store_url)  # what the bridges left behind
    bridge_state.remember_chat("tg-erase-me", 4711)
    bridge_state.outbox.add(4711, [OutgoingMessage("your question about your pension was: ...")])
    bridge_state.remember_chat("tg-stays", 4712)
    monkeypatch.setenv("TELEGRAM_STORE_URL", store_url)
    quizzes = Quizzes(f"sqlite:///{tmp_path / 'learners.db'}", QuizBank.load(tmp_path / "none")[0])

    # Nothing listens on the bridge port (another machine in scaled mode, or stopped).
    report = erase_learner(quizzes, "telegram", "tg-erase-me", bridge_port=free_port(), bridge_token="t")

    assert report.complete, report.errors
    assert report.removed["telegram_mapping"] == 1
    assert bridge_state.chat_for("tg-erase-me") is None and bridge_state.outbox.pending(4711) == 0
    assert bridge_state.chat_for("tg-stays") == 4712
    bridge_state.close()
