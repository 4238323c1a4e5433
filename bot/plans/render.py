"""Chat renderings of plans, next steps and onboarding status (project Markdown subset).

Texts come from ``bot/locales/<lang>.yml`` (keys ``plans_*``); module titles and
competency names are shown as the trainers wrote them.
"""

from __future__ import annotations

import json
from typing import Any

from bot.i18n import t
from bot.plans.onboarding import TrackStatus
from bot.plans.plan import Plan, PlanStep
from bot.plans.roles import Role, RoleModel

_ICON = {"done": "✅", "in_progress": "🟡", "todo": "⬜"}


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def step_line(number: int, step: PlanStep, language: str) -> str:
    """One plan line: icon, title, competencies it builds, mastery."""
    line = f"{number}. {_ICON[step.status]} **{step.title}**"
    if step.competencies:
        line += f" — _{', '.join(step.competencies)}_"
    elif step.needed_by:
        line += " — _" + t("plans_prerequisite_for", language, modules=", ".join(step.needed_by)) + "_"
    if step.attempts:
        line += " · " + t("plans_quiz_score", language, score=_pct(step.mastery))
    return line


def plan_markdown(plan: Plan, language: str = "en", limit: int = 12) -> str:
    """The whole plan with progress, weakest competencies and the next step."""
    lines = [t("plans_plan_heading", language, role=plan.role.display(language)),
             t("plans_plan_progress", language, done=plan.done, total=len(plan.steps), percent=plan.percent), ""]
    lines += [step_line(i, s, language) for i, s in enumerate(plan.steps[:limit], 1)]
    if len(plan.steps) > limit:
        lines.append(t("plans_more_steps", language, count=len(plan.steps) - limit))
    weakest = plan.weakest(3)
    if weakest:
        lines += ["", t("plans_weakest", language) + " " +
                  ", ".join(f"{c.name} ({_pct(c.mastery)})" for c in weakest)]
    nxt = plan.next_step
    lines += ["", next_step_sentence(nxt, language) if nxt else t("plans_all_done", language)]
    return "\n".join(lines)


def next_step_sentence(step: PlanStep, language: str = "en") -> str:
    """"Next: read X, then take its quiz." (or continue/practise when started)."""
    key = "plans_next_continue" if step.status == "in_progress" else "plans_next_start"
    text = t(key, language, title=step.title)
    if step.quiz:
        text += " " + t("plans_next_quiz", language)
    return text


def next_step_markdown(plan: Plan, language: str = "en") -> str:
    """The next step on its own, with why it matters for the role."""
    step = plan.next_step
    if step is None:
        return t("plans_all_done", language)
    lines = [next_step_sentence(step, language)]
    if step.competencies:
        lines.append(t("plans_next_why", language, role=plan.role.display(language),
                       competencies=", ".join(step.competencies)))
    elif step.needed_by:
        lines.append(t("plans_prerequisite_for", language, modules=", ".join(step.needed_by)))
    lines.append(t("plans_plan_progress", language, done=plan.done, total=len(plan.steps), percent=plan.percent))
    return "\n".join(lines)


def step_buttons(plan: Plan, language: str = "en") -> list[dict[str, str]]:
    """Buttons under a plan or next step: quiz on the next module, and the plan."""
    buttons = []
    step = plan.next_step
    if step is not None and step.quiz:
        payload = "/quiz_me" + json.dumps({"quiz_topic": step.quiz}, separators=(",", ":"))
        buttons.append({"title": t("plans_button_quiz", language), "payload": payload})
    buttons.append({"title": t("plans_button_show_plan", language), "payload": "/show_plan"})
    return buttons


def role_buttons(roles: list[Role] | RoleModel, language: str = "en") -> list[dict[str, str]]:
    """One button per role; the payload sets the role exactly (by id)."""
    items = list(roles.roles.values()) if isinstance(roles, RoleModel) else list(roles)
    return [{"title": r.display(language),
             "payload": "/set_role" + json.dumps({"role_name": r.id}, separators=(",", ":"))} for r in items]


def onboarding_status_markdown(status: TrackStatus, language: str = "en") -> str:
    """Day, streak, time and state of the learner's onboarding."""
    key = {"active": "plans_onboarding_active", "paused": "plans_onboarding_paused",
           "stopped": "plans_onboarding_stopped", "completed": "plans_onboarding_completed"}[status.status]
    return t(key, language, day=status.day, total=status.total_days, time=status.send_time,
             streak=status.streak, answered=status.answered)


def as_payload(value: dict[str, Any]) -> str:
    """Compact JSON for button payload entities."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
