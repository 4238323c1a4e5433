"""Supervisor summary per role and department, its CLI, the migration and the live-index lesson source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import KB, write

from bot.plans.onboarding import chunks_from_index, lesson_sections
from bot.plans.report import main, plan_summary, summary_text
from bot.plans.service import Plans
from bot.store import current_revision, make_engine, migrate


def wrong(item) -> str:
    """A recognisable wrong answer to a bank item."""
    if item.type == "true_false":
        return "true" if item.answer is False else "false"
    if item.type in ("single", "multiple"):
        right = item.answer if isinstance(item.answer, (list, tuple)) else [item.answer]
        return next("ABCDEF"[i] for i, o in enumerate(item.options) if o not in right)
    return "no idea at all"


def master(plans: Plans, learner: int, module: str, right: bool) -> None:
    """Answer every question of a module twice, all right or all wrong."""
    for _ in range(2):
        question = plans.quizzes.start_quiz(learner, module=module, n=20)
        while question is not None:
            item = plans.quizzes.bank.by_id[question.item_id]
            response = (item.answer[0] if item.type == "short" else item.answer) if right else wrong(item)
            outcome = plans.quizzes.answer(learner, response, item_id=question.item_id)
            if not outcome.recognised:  # never loop on a reply the checker cannot read
                outcome = plans.quizzes.skip(learner, item_id=question.item_id)
            question = outcome.question


def test_summary_per_role_and_department(plans: Plans) -> None:
    a = plans.learner("rest", "pio-revenue-1")
    b = plans.learner("rest", "pio-revenue-2")
    c = plans.learner("rest", "so-health")
    plans.learner("rest", "no-role")
    plans.save_profile(a, role="public-information-officer", department="Revenue")
    plans.save_profile(b, role="public-information-officer", department="revenue ")
    plans.save_profile(c, role="section-officer")
    master(plans, a, "rti-for-pios", right=True)
    master(plans, b, "data-protection-dpdp", right=False)
    plans.onboarding.start(c)

    groups = plan_summary(plans)
    assert [(g.role, g.department, g.learners) for g in groups] == [
        ("public-information-officer", "Revenue", 2), ("section-officer", "(not given)", 1)]
    pio = groups[0]
    assert pio.mean_completion == 10.0  # one of the two mastered 1 of 5 steps
    so = next(g for g in groups if g.role == "section-officer")
    assert so.onboarding_active == 1 and so.mean_completion == 0.0
    assert len(so.weakest) == 3 and all(w["mastery"] == 0.0 for w in so.weakest)

    only = plan_summary(plans, role="public-information-officer", department="REVENUE")
    assert [(g.role, g.learners) for g in only] == [("public-information-officer", 2)]
    text = summary_text(groups)
    assert "Public Information Officer / Revenue" in text and "weakest:" in text


def test_departments_group_case_insensitively(plans: Plans) -> None:
    for i, dept in enumerate(["Revenue", "Revenue", "Health"]):
        learner = plans.learner("rest", f"dd-{i}")
        plans.save_profile(learner, role="drawing-and-disbursing-officer", department=dept)
    groups = plan_summary(plans, role="drawing-and-disbursing-officer")
    assert [(g.department, g.learners) for g in groups] == [("Health", 1), ("Revenue", 2)]


def test_a_mastered_module_shows_in_completion_and_weakness(plans: Plans) -> None:
    a = plans.learner("rest", "pio-1")
    plans.save_profile(a, role="public-information-officer", department="Revenue")
    master(plans, a, "rti-for-pios", right=True)
    master(plans, a, "data-protection-dpdp", right=False)
    (group,) = plan_summary(plans)
    assert group.mean_completion == 20.0  # 1 of 5 steps
    assert group.weakest[0]["competency"] in {"Data protection", "Office procedure"}
    assert all(w["competency"] != "RTI Act" for w in group.weakest)


def test_report_cli_prints_json(plans: Plans, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    db = tmp_path / "state" / "learners.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TUTOR_KB_DIR", str(KB))
    learner = plans.learner("rest", "cli-1")
    plans.save_profile(learner, role="under-secretary", department="Finance")
    assert main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["role"] == "under-secretary" and data[0]["department"] == "Finance" and data[0]["learners"] == 1
    assert main([]) == 0
    assert "Under Secretary / Finance: 1 learners" in capsys.readouterr().out


def test_migration_creates_the_onboarding_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    assert current_revision(engine) >= "0003"  # later features add migrations on top
    tables = set(inspect(engine).get_table_names())
    assert {"onboarding_tracks", "onboarding_lessons", "learners"} <= tables
    migrate(engine)  # idempotent
    engine.dispose()


def test_lessons_come_from_the_live_index(tmp_path: Path, fake_embedder) -> None:
    from bot.knowledge.gate import Gate
    from bot.knowledge.index import update_index
    from bot.knowledge.search import Retriever

    kb = tmp_path / "kb"
    write(kb / "modules" / "office-procedure.md", (KB / "modules" / "office-procedure.md").read_text())
    write(kb / "modules" / "ltc-rules-2010-circular.md",
          (KB / "modules" / "ltc-rules-2010-circular.md").read_text())
    update_index(kb, tmp_path / "idx", [fake_embedder])
    retriever = Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)
    material = chunks_from_index(retriever.index)
    assert material and all(c.module == "office-procedure" for c in material)  # superseded one left out
    days = lesson_sections(["office-procedure"], 3, material)
    assert len(days) == 3 and len({d.anchor for d in days}) == 3
    assert all(d.citation.startswith("Office Procedure: Receipts, Files, Noting and e-Office — ") for d in days)
