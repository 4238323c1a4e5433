"""Plan ordering by competency gaps and prerequisites, and plans that follow quiz results."""

from __future__ import annotations

from pathlib import Path

import pytest
from quiz_support import make_quizzes
from test_plans_fixtures import TEST_BANKS, FakeClock, write

from bot.plans.plan import build_plan
from bot.plans.render import next_step_markdown, plan_markdown, step_buttons
from bot.plans.roles import load_roles
from bot.quizzes import QuizBank
from bot.quizzes.views import MasteryEntry, Progress

ROLE = """
    id: pio
    name: Public Information Officer
    name_hi: लोक सूचना अधिकारी
    aliases: [PIO]
    competencies:
      - name: RTI Act
        type: domain
        priority: 3
        modules: [rti-for-pios]
        quizzes: [rti-for-pios]
      - name: Ethics
        type: behavioural
        priority: 1
        modules: [conduct-rules]
        quizzes: [conduct-rules]
      - name: Filing
        type: functional
        priority: 2
        modules: [office-procedure]
    """


@pytest.fixture
def model(tmp_path: Path):
    write(tmp_path / "roles" / "pio.yml", ROLE)
    write(tmp_path / "roles" / "prerequisites.yml", """
        prerequisites:
          rti-for-pios: [records]
        """)
    loaded, problems = load_roles(tmp_path / "roles")
    assert problems == []
    return loaded


def progress(modules: dict[str, tuple[float, int]] = {}, competencies: dict[str, tuple[float, int]] = {}) -> Progress:  # noqa: B006
    def entries(values: dict[str, tuple[float, int]]) -> tuple[MasteryEntry, ...]:
        return tuple(MasteryEntry(k, k, s, "x", n, round(s * n)) for k, (s, n) in values.items())

    return Progress(1, entries(competencies), entries(modules), 0, 0, None, 0, 0, 0)


def order(plan) -> list[str]:
    return [s.module for s in plan.steps]


def test_a_new_learner_starts_with_the_most_important_gap_after_its_prerequisite(model) -> None:
    plan = build_plan(model.get("pio"), model, None)
    # RTI Act has priority 3, but rti-for-pios needs "records" first (added to the plan).
    assert order(plan) == ["records", "rti-for-pios", "office-procedure", "conduct-rules"]
    assert plan.steps[0].needed_by == ("rti-for-pios",) and plan.steps[0].competencies == ()
    assert plan.next_step.module == "records" and plan.done == 0 and plan.percent == 0


def test_gaps_reorder_the_plan(model) -> None:
    # Strong on RTI (done), weak on ethics: ethics now outranks filing despite lower priority.
    state = progress(modules={"rti-for-pios": (0.95, 6), "records": (0.9, 4), "conduct-rules": (0.1, 4)},
                     competencies={"RTI Act": (0.95, 6), "Ethics": (0.1, 4)})
    plan = build_plan(model.get("pio"), model, state)
    assert order(plan) == ["office-procedure", "conduct-rules", "rti-for-pios", "records"]
    assert [s.status for s in plan.steps] == ["todo", "in_progress", "done", "done"]
    # Filing: gap 0.8 x priority 2 = 1.6; Ethics: gap 0.7 x priority 1 = 0.7.
    assert plan.steps[0].urgency == pytest.approx(1.6) and plan.steps[1].urgency == pytest.approx(0.7)
    assert plan.done == 2 and plan.percent == 50
    assert [c.name for c in plan.weakest(2)] == ["Filing", "Ethics"]


def test_a_prerequisite_never_comes_after_what_needs_it(model) -> None:
    state = progress(modules={"office-procedure": (1.0, 5), "conduct-rules": (1.0, 5)},
                     competencies={"Filing": (1.0, 5), "Ethics": (1.0, 5)})
    plan = build_plan(model.get("pio"), model, state)
    assert order(plan)[:2] == ["records", "rti-for-pios"]


def test_mastery_needs_enough_answers(model) -> None:
    state = progress(modules={"conduct-rules": (1.0, 2)}, competencies={"Ethics": (1.0, 2)})
    plan = build_plan(model.get("pio"), model, state)
    step = next(s for s in plan.steps if s.module == "conduct-rules")
    assert step.status == "in_progress"  # two right answers are not mastery yet


def test_plan_changes_after_quiz_results(model, tmp_path: Path) -> None:
    bank, problems = QuizBank.load(TEST_BANKS)
    assert problems == []
    quizzes = make_quizzes(f"sqlite:///{tmp_path / 'learners.db'}", bank, FakeClock())
    try:
        learner = quizzes.learner("rest", "officer-1")
        before = build_plan(model.get("pio"), model, quizzes.progress(learner))
        assert order(before)[:2] == ["records", "rti-for-pios"]

        # Answer every RTI question right, twice over: RTI Act is mastered.
        for _ in range(2):
            question = quizzes.start_quiz(learner, module="rti-for-pios", n=10)
            while question is not None:
                item = bank.by_id[question.item_id]
                answer = item.answer if isinstance(item.answer, (bool, str)) else list(item.answer)
                outcome = quizzes.answer(learner, answer[0] if isinstance(answer, list) and item.type == "short"
                                          else answer, item_id=question.item_id)
                assert outcome.correct, item.id
                question = outcome.question
        # And get the ethics questions wrong.
        question = quizzes.start_quiz(learner, module="conduct-rules", n=10)
        while question is not None:
            question = quizzes.answer(learner, "A" if question.type == "single" else "true",
                                       item_id=question.item_id).question

        after = build_plan(model.get("pio"), model, quizzes.progress(learner))
        rti = next(s for s in after.steps if s.module == "rti-for-pios")
        assert rti.status == "done" and order(after)[-1] == "rti-for-pios"
        assert "records" not in order(after)  # only needed for RTI, which is mastered
        ethics = next(c for c in after.competencies if c.name == "Ethics")
        assert ethics.attempts == 2 and ethics.mastery < 0.5
        assert order(after) == ["office-procedure", "conduct-rules", "rti-for-pios"]
        assert after.done == 1
    finally:
        quizzes.engine.dispose()


def test_renderings_in_both_languages(model) -> None:
    plan = build_plan(model.get("pio"), model, None, titles={"rti-for-pios": "RTI for PIOs"},
                      quiz_modules={"rti-for-pios", "conduct-rules"})
    text = plan_markdown(plan, "en")
    assert text.startswith("**Your learning plan: Public Information Officer**")
    assert "2. ⬜ **RTI for PIOs** — _RTI Act_" in text and "needed first for rti-for-pios" in text
    assert "**Next:** read _records_." in text
    hindi = plan_markdown(plan, "hi")
    assert "**आपकी सीखने की योजना: लोक सूचना अधिकारी**" in hindi
    assert next_step_markdown(plan, "en").startswith("**Next:** read _records_.")
    assert step_buttons(plan, "en") == [{"title": "Show my plan", "payload": "/show_plan"}]  # records has no quiz
