"""Retention purge: activity counts questions, and the human-loop rows and chat map are purged too.

Real learner store and human-loop store on one SQLite file, real Telegram bridge store;
the clocks are set, nothing else is faked.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bot.channels.bridge_state import BridgeState
from bot.channels.bridge_tables import chats
from bot.privacy import last_activity, purge
from bot.quizzes import QuizBank, Quizzes
from tests.unit.handoff_support import IN_HOURS, make_loop

DAY = timedelta(days=1)


def _stores(tmp_path: Path):
    loop, clock = make_loop(tmp_path, now=IN_HOURS)
    quizzes = Quizzes(loop.records.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0], clock=clock)
    return loop, clock, quizzes


def test_a_learner_who_asks_daily_without_quizzes_is_kept(tmp_path: Path) -> None:
    loop, clock, quizzes = _stores(tmp_path)
    learner = quizzes.learner("socketio", "web-asker", consent=True)  # last quiz: day 0
    clock.now = IN_HOURS + 399 * DAY
    loop.records.log_question("web-asker", "socketio", "what is the RTI fee?", answered=True)

    result = purge(quizzes, 365, now=IN_HOURS + 400 * DAY)

    assert result["learners"] == 0
    assert quizzes.export(learner)["learners"]  # still there
    assert last_activity(quizzes)["web-asker"] == IN_HOURS + 399 * DAY


def test_question_queue_and_feedback_rows_of_an_inactive_sender_are_purged(tmp_path: Path) -> None:
    loop, clock, quizzes = _stores(tmp_path)
    # Never consented (no learner row): only the human-loop tables hold their words.
    ref = loop.record_unanswered("web-gone", "Ravi here: is yoga leave allowed?", [], "socketio")
    loop.records.log_question("web-gone", "socketio", "Ravi here: is yoga leave allowed?", answered=False)
    loop.feedback("web-gone", "socketio", "Ravi asks about GPF", ["modules/a.md"], positive=True)
    clock.now = IN_HOURS + 300 * DAY
    loop.records.log_question("web-active", "socketio", "leave rules", answered=True)

    result = purge(quizzes, 365, now=IN_HOURS + 400 * DAY)

    assert result["learners"] == 1
    assert loop.records.get_item(ref) is None
    assert set(last_activity(quizzes)) == {"web-active"}


def test_old_rows_of_an_active_learner_go_after_the_retention_period(tmp_path: Path) -> None:
    loop, clock, quizzes = _stores(tmp_path)
    loop.records.log_question("web-active", "socketio", "an old question", answered=True)
    loop.feedback("web-active", "socketio", "an old rating", [], positive=True)
    clock.now = IN_HOURS + 390 * DAY
    loop.records.log_question("web-active", "socketio", "a recent question", answered=True)

    result = purge(quizzes, 365, now=IN_HOURS + 400 * DAY)

    assert result["learners"] == 0 and result["old_rows"] == 2
    assert last_activity(quizzes)["web-active"] == IN_HOURS + 390 * DAY


def test_the_bridge_drops_chat_mappings_idle_beyond_retention(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "telegram.db", chat_retention_s=365 * 86400.0)
    state.remember_chat("tg-idle", 111)
    state.remember_chat("tg-recent", 222)
    with state.engine.begin() as conn:  # the idle learner's last message was 400 days ago
        conn.execute(update(chats).where(chats.c.sender == "tg-idle").values(updated_at=chats.c.updated_at - 400 * 86400))
    state.prune()
    assert state.chat_for("tg-idle") is None and state.chat_for("tg-recent") == 222
    state.close()
