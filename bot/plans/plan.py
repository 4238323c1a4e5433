"""Capacity-building plans: what a learner in a role should study, in which order.

The plan for a role is every module (and quiz bank) that builds one of the role's
competencies, plus the modules those need first. Its order:

1. Each competency's gap is ``max(0, target - mastery)``, mastery taken from the
   learner's quiz results (:meth:`bot.quizzes.Quizzes.progress`), weighted by the
   competency's priority (1-3). A module's urgency is the largest weighted gap among the
   competencies it builds, raised to that of any module that needs it (so a prerequisite
   comes just before the module that needs it, not at the end).
2. Modules are placed by urgency, never before a prerequisite that is not yet done
   (a topological order; ties keep the role file's order).
3. Modules already mastered go last, marked done.

As quiz results come in, mastery changes and the next call returns a new order.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.plans.roles import DEFAULT_TARGET, Competency, Role, RoleModel
from bot.quizzes.mastery import MIN_ATTEMPTS_FOR_MASTERY
from bot.quizzes.views import MasteryEntry, Progress


@dataclass(frozen=True)
class CompetencyStatus:
    """How far a learner is from a competency's target."""

    name: str
    type: str
    priority: int
    target: float
    mastery: float
    attempts: int

    @property
    def gap(self) -> float:
        """``target - mastery`` (never below 0)."""
        return max(0.0, self.target - self.mastery)

    @property
    def met(self) -> bool:
        """Target reached with enough answers behind it."""
        return self.mastery >= self.target and self.attempts >= MIN_ATTEMPTS_FOR_MASTERY


@dataclass(frozen=True)
class PlanStep:
    """One module of a plan, with its quiz.

    Attributes:
        module: Module id.
        title: Module title.
        competencies: Role competencies it builds (empty for a pure prerequisite).
        quiz: Quiz bank (module id) that checks it, or None.
        status: ``done``, ``in_progress`` (quiz started, not mastered) or ``todo``.
        mastery: Module mastery 0-1 from quizzes (0 when never quizzed).
        attempts: Answers behind ``mastery``.
        urgency: Weighted gap used for ordering (higher first).
        needed_by: Modules this one is a prerequisite of, when it is in the plan only for them.
    """

    module: str
    title: str
    competencies: tuple[str, ...]
    quiz: str | None
    status: str
    mastery: float
    attempts: int
    urgency: float
    needed_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A learner's ordered plan for a role."""

    role: Role
    steps: tuple[PlanStep, ...]
    competencies: tuple[CompetencyStatus, ...]

    @property
    def next_step(self) -> PlanStep | None:
        """The first step not yet done, or None when everything is mastered."""
        return next((s for s in self.steps if s.status != "done"), None)

    @property
    def done(self) -> int:
        """Steps mastered."""
        return sum(1 for s in self.steps if s.status == "done")

    @property
    def percent(self) -> int:
        """Share of steps mastered, 0-100."""
        return round(100 * self.done / len(self.steps)) if self.steps else 100

    @property
    def complete(self) -> bool:
        """Every step is mastered."""
        return bool(self.steps) and self.done == len(self.steps)

    def weakest(self, n: int = 3) -> list[CompetencyStatus]:
        """The ``n`` competencies with the largest weighted gaps (unmet only)."""
        open_ = [c for c in self.competencies if not c.met]
        return sorted(open_, key=lambda c: (-c.gap * c.priority, c.name))[:n]


def _lookup(entries: tuple[MasteryEntry, ...]) -> dict[str, MasteryEntry]:
    return {e.key.casefold(): e for e in entries}


def competency_status(competency: Competency, progress: Progress | None) -> CompetencyStatus:
    """Mastery of one role competency from a learner's progress.

    The quiz competencies named in ``measured_by`` are combined, weighted by attempts;
    when none has been answered yet, the modules of its quiz banks stand in; no evidence
    at all means mastery 0.

    Args:
        competency: The role's competency.
        progress: The learner's progress (None for a learner with no record).

    Returns:
        A :class:`CompetencyStatus`.
    """
    entries: list[MasteryEntry] = []
    if progress is not None:
        comps, mods = _lookup(progress.competencies), _lookup(progress.modules)
        entries = [comps[k.casefold()] for k in competency.measured_by if k.casefold() in comps]
        if not entries:
            entries = [mods[m.casefold()] for m in competency.quizzes if m.casefold() in mods]
    attempts = sum(e.attempts for e in entries)
    mastery = sum(e.score * e.attempts for e in entries) / attempts if attempts else 0.0
    return CompetencyStatus(competency.name, competency.type, competency.priority, competency.target,
                            mastery, attempts)


def build_plan(
    role: Role,
    model: RoleModel,
    progress: Progress | None,
    titles: dict[str, str] | None = None,
    quiz_modules: set[str] | None = None,
) -> Plan:
    """Order the role's modules and quizzes for one learner.

    Args:
        role: The learner's role.
        model: The role model (for prerequisites).
        progress: The learner's progress, or None for no record yet.
        titles: Module titles (``{id: title}``); ids are shown when missing.
        quiz_modules: Modules that have a quiz bank (default: every quiz the role names).

    Returns:
        A :class:`Plan`.
    """
    titles = titles or {}
    statuses = {c.name: competency_status(c, progress) for c in role.competencies}
    modules_mastery = _lookup(progress.modules) if progress is not None else {}
    quiz_modules = quiz_modules if quiz_modules is not None else {q for c in role.competencies for q in c.quizzes}

    # Modules the competencies name (reading or quiz), in file order, with their urgency.
    builds: dict[str, list[str]] = {}
    urgency: dict[str, float] = {}
    for competency in role.competencies:
        status = statuses[competency.name]
        for module in (*competency.modules, *competency.quizzes):
            builds.setdefault(module, [])
            if competency.name not in builds[module]:
                builds[module].append(competency.name)
            urgency[module] = max(urgency.get(module, 0.0), status.gap * competency.priority)
    order = list(builds)

    # Add missing prerequisites (transitively), recording who needs them.
    needed_by: dict[str, list[str]] = {}
    queue = list(order)
    while queue:
        module = queue.pop(0)
        for need in model.prerequisites.get(module, ()):
            if need not in builds and need not in needed_by:
                queue.append(need)
                order.append(need)
            if need not in builds:
                needed_by.setdefault(need, []).append(module)

    def step_status(module: str) -> tuple[str, float, int]:
        entry = modules_mastery.get(module.casefold())
        if entry is None or entry.attempts == 0:
            return "todo", 0.0, 0
        done = entry.score >= DEFAULT_TARGET and entry.attempts >= MIN_ATTEMPTS_FOR_MASTERY
        return ("done" if done else "in_progress"), entry.score, entry.attempts

    by_module = {m: step_status(m) for m in order}
    # A prerequisite that is in the plan only for modules already mastered is not needed.
    changed = True
    while changed:
        changed = False
        for module in [m for m in order if m not in builds and by_module[m][0] != "done"]:
            if all(d not in order or by_module[d][0] == "done" for d in needed_by.get(module, ())):
                order.remove(module)
                changed = True
    for module in order:
        if module not in builds:  # a pure prerequisite: as urgent as its gap would be at top priority
            urgency[module] = 0.0 if by_module[module][0] == "done" else DEFAULT_TARGET - by_module[module][1]

    # A prerequisite is at least as urgent as anything that needs it (fixed point; the
    # validator rejects cycles, and the iteration bound keeps a bad file from hanging).
    for _ in range(len(order)):
        changed = False
        for module in order:
            for need in model.prerequisites.get(module, ()):
                if need in urgency and by_module[need][0] != "done" and urgency[need] < urgency[module]:
                    urgency[need], changed = urgency[module], True
        if not changed:
            break

    pending = [m for m in order if by_module[m][0] != "done"]
    placed: list[str] = []
    while pending:
        ready = [m for m in pending
                 if all(n in placed or n not in by_module or by_module[n][0] == "done"
                        for n in model.prerequisites.get(m, ()))]
        if not ready:  # a cycle slipped through: fall back to urgency alone
            ready = pending
        # In-progress modules first among equals: finishing beats starting.
        pick = max(ready, key=lambda m: (round(urgency[m], 6), by_module[m][0] == "in_progress", -order.index(m)))
        placed.append(pick)
        pending.remove(pick)
    placed += [m for m in order if by_module[m][0] == "done"]

    steps = tuple(
        PlanStep(
            module=m,
            title=titles.get(m, m),
            competencies=tuple(builds.get(m, ())),
            quiz=m if m in quiz_modules else None,
            status=by_module[m][0],
            mastery=by_module[m][1],
            attempts=by_module[m][2],
            urgency=urgency[m],
            needed_by=tuple(needed_by.get(m, ())) if m not in builds else (),
        )
        for m in placed
    )
    return Plan(role, steps, tuple(statuses[c.name] for c in role.competencies))
