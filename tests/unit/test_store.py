"""Learner store: migrations, learners, idempotent attempts, export and erasure.

Runs on SQLite here; ``tests/postgres`` runs this module again on a real PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from quiz_support import *  # noqa: F403  (pytest fixtures: db_url, clock, bank, quizzes)
from quiz_support import FakeClock
from sqlalchemy import func, select

from bot.pseudonyms import pseudonym
from bot.quizzes import Quizzes
from bot.store import (
    LEARNER_TABLES,
    Attempt,
    Base,
    Learner,
    current_revision,
    get_or_create_learner,
    insert_attempt_once,
    make_engine,
    migrate,
    session_factory,
    session_scope,
)


def test_migrations_are_idempotent_and_match_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        migrate(engine)  # second start-up: nothing to do, no error
        from alembic.script import ScriptDirectory

        from bot.store.migrate import alembic_config

        assert current_revision(engine) == ScriptDirectory.from_config(alembic_config()).get_current_head()
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_learner_get_or_create_and_pseudonym(quizzes: Quizzes) -> None:
    external = pseudonym("telegram", "123456", "salt")
    assert external == pseudonym("telegram", "123456", "salt")
    assert external != pseudonym("telegram", "123456", "other-salt") != pseudonym("web", "123456", "salt")
    assert "123456" not in external
    first = quizzes.learner("telegram", external, language="hi", role="PIO", consent=True)
    assert quizzes.learner("telegram", external) == first
    assert quizzes.learner("web", external) != first
    quizzes.update_profile(first, department="Revenue", consent=False)
    with pytest.raises(ValueError):
        quizzes.update_profile(first, salary=1)
    data = quizzes.export(first)["learners"][0]
    assert (data["language"], data["role"], data["department"], data["consent"]) == ("hi", "PIO", "Revenue", False)


def test_insert_attempt_once_is_idempotent(quizzes: Quizzes) -> None:
    learner = quizzes.learner("web", "w1")
    question = quizzes.start_quiz(learner, n=1)
    factory = session_factory(quizzes.engine)
    values = {
        "learner_id": learner,
        "session_id": question.session_id,
        "item_id": question.item_id,
        "attempt_no": 1,
        "module": "m",
        "competencies": ["c"],
        "response": "B",
        "correct": True,
        "skipped": False,
        "answered_at": quizzes.clock(),
    }
    with session_scope(factory) as s:
        assert insert_attempt_once(s, dict(values)) is True
    with session_scope(factory) as s:
        assert insert_attempt_once(s, dict(values, response="C")) is False
        assert insert_attempt_once(s, dict(values, attempt_no=2)) is True
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Attempt)) == 2
        assert s.scalar(select(Attempt.response).where(Attempt.attempt_no == 1)) == "B"


def test_retried_answer_counts_once(quizzes: Quizzes) -> None:
    learner = quizzes.learner("telegram", "t1")
    question = quizzes.start_quiz(learner, module="rti-for-pios", n=2)
    first = quizzes.answer(learner, "A", item_id=question.item_id)  # recorded
    retry = quizzes.answer(learner, "A", item_id=question.item_id)  # e.g. Rasa retried the action
    assert not first.duplicate and retry.duplicate
    assert retry.correct == first.correct and retry.item.id == question.item_id
    assert retry.question is not None and retry.question.item_id == first.question.item_id
    data = quizzes.export(learner)
    assert len(data["attempts"]) == 1
    assert sum(m["attempts"] for m in data["mastery"] if m["kind"] == "module") == 1
    assert data["review_states"][0]["reps"] == 1
    # The retry did not move the session on: the second question is still the one to answer.
    assert quizzes.current_question(learner).item_id == first.question.item_id


def _populate(quizzes: Quizzes, clock: FakeClock) -> tuple[int, int]:
    alice = quizzes.learner("telegram", "alice", consent=True)
    bob = quizzes.learner("telegram", "bob")
    for learner in (alice, bob):
        question = quizzes.start_quiz(learner, n=3)
        while question is not None:
            outcome = quizzes.answer(learner, "A", item_id=question.item_id)
            if not outcome.recognised:
                outcome = quizzes.answer(learner, "x y z", item_id=question.item_id)
            question = outcome.question
        clock.advance(hours=1)
        quizzes.start_quiz(learner, n=2)  # left active
    return alice, bob


def test_export_json_and_csv(quizzes: Quizzes, clock: FakeClock) -> None:
    alice, bob = _populate(quizzes, clock)
    data = json.loads(quizzes.export_json(alice))
    assert set(data) == {"learners", "quiz_sessions", "attempts", "review_states", "mastery",
                         "onboarding_tracks", "onboarding_lessons", "review_reminders"}
    assert data["learners"][0]["external_id"] == "alice"
    assert len(data["quiz_sessions"]) == 2 and len(data["attempts"]) == 3
    assert all(row["learner_id"] == alice for table in data.values() for row in table if "learner_id" in row)
    assert datetime.fromisoformat(data["attempts"][0]["answered_at"]).tzinfo is not None
    files = quizzes.export_csv(alice)
    assert set(files) == {f"{t}.csv" for t in data}
    rows = list(csv.DictReader(io.StringIO(files["attempts.csv"])))
    assert len(rows) == 3 and {r["learner_id"] for r in rows} == {str(alice)}
    assert json.loads(rows[0]["competencies"])  # list columns are JSON in CSV
    with pytest.raises(KeyError):
        quizzes.export(9999)


def test_erase_removes_every_row_of_one_learner_only(quizzes: Quizzes, clock: FakeClock) -> None:
    alice, bob = _populate(quizzes, clock)
    counts = quizzes.erase(alice)
    assert counts["learners"] == 1 and counts["attempts"] == 3 and counts["quiz_sessions"] == 2
    assert counts["review_states"] == 3 and counts["mastery"] > 0
    factory = session_factory(quizzes.engine)
    with session_scope(factory) as s:
        for model in LEARNER_TABLES:
            assert s.scalar(select(func.count()).select_from(model).where(model.learner_id == alice)) == 0
            assert s.scalar(select(func.count()).select_from(model).where(model.learner_id == bob)) > 0
        assert s.get(Learner, alice) is None and s.get(Learner, bob) is not None
    assert quizzes.erase(alice) == {t: 0 for t in counts}
    # The erased learner can come back as a brand-new learner.
    assert quizzes.learner("telegram", "alice") not in (alice, bob)


def test_concurrent_first_contact_creates_one_learner(quizzes: Quizzes) -> None:
    factory = session_factory(quizzes.engine)
    with session_scope(factory) as s1:
        a = get_or_create_learner(s1, "web", "same", quizzes.clock())
        s1.flush()
        first = a.id
    with session_scope(factory) as s2:
        assert get_or_create_learner(s2, "web", "same", quizzes.clock()).id == first
