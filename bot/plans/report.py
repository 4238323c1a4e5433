"""Supervisor and trainer summary: plans per role and department.

For each (role, department): how many learners, how far their plans are (mean share of
steps mastered, learners with the plan complete), onboarding (active, completed), and
the weakest competencies (lowest mean mastery across those learners).

Usage::

    python -m bot.plans.report [--json] [--role ROLE] [--department DEPT]

The trainer console calls :func:`plan_summary` directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from bot.store import Learner, session_scope
from bot.store.plans_models import OnboardingTrack

UNSET_DEPARTMENT = "(not given)"


@dataclass
class GroupSummary:
    """Plan figures for one role within one department."""

    role: str
    role_name: str
    department: str
    learners: int = 0
    mean_completion: float = 0.0  # mean percent of plan steps mastered
    plans_complete: int = 0
    onboarding_active: int = 0
    onboarding_completed: int = 0
    weakest: list[dict[str, Any]] = field(default_factory=list)  # [{"competency", "mastery", "learners"}]


def plan_summary(plans: Any, *, role: str | None = None, department: str | None = None,
                 weakest: int = 3) -> list[GroupSummary]:
    """Summarise plans of every learner with a role.

    Args:
        plans: A :class:`bot.plans.service.Plans`.
        role: Only this role id.
        department: Only this department (case-insensitive).
        weakest: How many weakest competencies to list per group.

    Returns:
        One :class:`GroupSummary` per (role, department), sorted by role then department.
    """
    model = plans.roles
    with session_scope(plans._sessions) as s:  # noqa: SLF001 (same package)
        query = select(Learner.id, Learner.role, Learner.department).where(Learner.role.is_not(None))
        rows = list(s.execute(query))
        tracks = {t.learner_id: t.status for t in s.scalars(select(OnboardingTrack))}
    groups: dict[tuple[str, str], GroupSummary] = {}
    mastery: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    completion: dict[tuple[str, str], list[int]] = defaultdict(list)
    for learner_id, role_id, dept in rows:
        role_obj = model.get(role_id) if role_id is not None else None  # the query skips None
        if role_id is None or role_obj is None or (role and role_id != role):
            continue
        dept_name = (dept or "").strip() or UNSET_DEPARTMENT
        if department and dept_name.casefold() != department.casefold():
            continue
        key = (role_id, dept_name.casefold())  # "Revenue" and "revenue " are one department
        group = groups.setdefault(key, GroupSummary(role_id, role_obj.name, dept_name))
        plan = plans.plan(learner_id, role_id)
        group.learners += 1
        completion[key].append(plan.percent)
        group.plans_complete += int(plan.complete)
        status = tracks.get(learner_id)
        group.onboarding_active += int(status in ("active", "paused"))
        group.onboarding_completed += int(status == "completed")
        for competency in plan.competencies:
            mastery[key][competency.name].append(competency.mastery)
    for key, group in groups.items():
        group.mean_completion = round(sum(completion[key]) / len(completion[key]), 1)
        means = sorted(((sum(v) / len(v), name, len(v)) for name, v in mastery[key].items()))
        group.weakest = [{"competency": name, "mastery": round(mean, 3), "learners": n}
                         for mean, name, n in means[:weakest]]
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], k[1] == UNSET_DEPARTMENT.casefold(), k[1]))]


def summary_text(groups: list[GroupSummary]) -> str:
    """A plain-text table for the terminal."""
    if not groups:
        return "No learners with a role yet."
    lines = []
    for g in groups:
        weak = ", ".join(f"{w['competency']} {round(w['mastery'] * 100)}%" for w in g.weakest) or "-"
        lines.append(f"{g.role_name} / {g.department}: {g.learners} learners, plan {g.mean_completion}% done "
                     f"on average, {g.plans_complete} complete; onboarding {g.onboarding_active} active, "
                     f"{g.onboarding_completed} completed; weakest: {weak}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.plans.report``: print the summary (text or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bot.plans.report", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--role", help="only this role id")
    parser.add_argument("--department", help="only this department")
    args = parser.parse_args(argv)
    from bot.config import load_settings
    from bot.plans.service import Plans
    from bot.quizzes import Quizzes

    quizzes, _ = Quizzes.from_settings()
    plans = Plans(quizzes, load_settings().kb_dir)
    groups = plan_summary(plans, role=args.role, department=args.department)
    if args.json:
        json.dump([asdict(g) for g in groups], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(summary_text(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
