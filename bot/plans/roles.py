"""The role model: roles, their activities and competencies, and module prerequisites.

Trainers keep it in ``knowledge_base/roles/`` as YAML, one role per file, plus
``prerequisites.yml``. :func:`load_roles` reads and checks the folder and reports every
problem with file and line, so ``kb validate`` can show trainers exactly what to fix.
Role files are read as carefully as documents (:mod:`bot.knowledge.safe_yaml`): a link,
a file over the size cap, or YAML that nests too deeply or whose aliases expand past
a limit is reported and skipped, and the other roles still load.

A role file::

    id: section-officer
    name: Section Officer
    names: {hi: अनुभाग अधिकारी}   # its name in other interface languages (optional)
    aliases: ["SO", "अनुभाग अधिकारी"]
    tags: []                 # extra role tags of documents that suit this role
    activities: [...]
    competencies:
      - name: Office procedure
        type: functional     # behavioural | functional | domain
        priority: 3          # 1 useful .. 3 essential
        target: 0.8          # mastery to reach (default 0.8)
        measured_by: [...]   # quiz competencies that measure it (default: its name)
        modules: [office-procedure]
        quizzes: [office-procedure]
    onboarding:              # only for new-recruit tracks
      days: 10
      modules: [...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import safe_yaml
from bot.knowledge.documents import read_front_matter

COMPETENCY_TYPES = ("behavioural", "functional", "domain")
PREREQUISITES_FILE = "prerequisites.yml"
DEFAULT_TARGET = 0.8
_ROLE_KEYS = {"id", "name", "names", "name_hi", "level", "description", "aliases", "tags", "activities",
              "competencies", "onboarding"}
_COMPETENCY_KEYS = {"name", "type", "priority", "target", "measured_by", "modules", "quizzes"}


@dataclass(frozen=True)
class RoleProblem:
    """A mistake in a role file, with where it is."""

    source: str
    message: str
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{self.severity.upper()}: {where}: {self.message}"


@dataclass(frozen=True)
class Competency:
    """A competency a role needs and what builds it."""

    name: str
    type: str
    priority: int
    target: float
    measured_by: tuple[str, ...]
    modules: tuple[str, ...]
    quizzes: tuple[str, ...]


@dataclass(frozen=True)
class Onboarding:
    """A new-recruit track: how many days and which modules the daily lessons draw on."""

    days: int
    modules: tuple[str, ...]


@dataclass(frozen=True)
class Role:
    """One role of the role model."""

    id: str
    name: str
    names: Mapping[str, str]
    level: str
    description: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    activities: tuple[str, ...]
    competencies: tuple[Competency, ...]
    onboarding: Onboarding | None = None
    source: str = ""

    def display(self, language: str = "en") -> str:
        """The role's name in ``language``.

        Args:
            language: An interface language code.

        Returns:
            Its name from ``names``, else the (English) ``name``.
        """
        return self.names.get(language) or self.name

    @property
    def other_names(self) -> tuple[str, ...]:
        """Its names in other languages, in file order (learners may type any of them)."""
        return tuple(self.names.values())

    @property
    def name_hi(self) -> str:
        """Its Hindi name, or an empty text (kept for code written before ``names``)."""
        return self.names.get("hi", "")

    @property
    def modules(self) -> tuple[str, ...]:
        """Modules named by the competencies, in file order, without repeats."""
        seen: dict[str, None] = {}
        for competency in self.competencies:
            for module in competency.modules:
                seen.setdefault(module, None)
        return tuple(seen)

    @property
    def search_tags(self) -> tuple[str, ...]:
        """Document ``roles:`` tags that count as this role for search boosting."""
        return (self.id, *self.tags)


@dataclass
class RoleModel:
    """All roles and the module prerequisites."""

    roles: dict[str, Role] = field(default_factory=dict)
    prerequisites: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, role_id: str | None) -> Role | None:
        """The role with this id, or None."""
        return self.roles.get(role_id or "")

    def __len__(self) -> int:
        return len(self.roles)


class _Lines:
    """Values of a YAML document together with the line of every mapping key."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        # Bounded: _build walks aliases as copies, so an alias bomb would expand here.
        node = safe_yaml.compose(text)
        self.data = self._build(node, ()) if node is not None else None

    def _build(self, node: yaml.Node, path: tuple) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = {}
            for key_node, value_node in node.value:
                # Keys are plain names here; a complex key is kept as text so it is reported, not fatal.
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                out[key] = self._build(value_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(child, (*path, i)) for i, child in enumerate(node.value)]
        # Scalars: let the safe constructor type them (ints, floats, bools, strings).
        return safe_yaml.construct(node)

    def line(self, *path: Any) -> int | None:
        """Line of the key or item at ``path`` (or of its closest parent)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def load_roles(
    folder: Path,
    *,
    modules: set[str] | None = None,
    quiz_modules: set[str] | None = None,
    base: Path | None = None,
) -> tuple[RoleModel, list[RoleProblem]]:
    """Read and check every role file in ``folder``.

    Args:
        folder: ``knowledge_base/roles``.
        modules: Known module ids; when given, unknown ones are reported.
        quiz_modules: Module ids that have a quiz bank; when given, unknown ones are reported.
        base: Folder that sources in problems are relative to (default: ``folder``'s parent).

    Returns:
        ``(model, problems)``: the valid roles (a role with errors is left out) and
        every problem found.
    """
    folder = Path(folder)
    base = Path(base) if base else folder.parent
    model = RoleModel()
    problems: list[RoleProblem] = []
    if not folder.is_dir():
        return model, problems
    aliases: dict[str, str] = {}
    prerequisite_lines: _Lines | None = None
    for path in sorted(folder.glob("*.y*ml")):
        source = _relative(path, base)
        doc = _read_role_file(path, folder, source, problems)
        if doc is None:
            continue
        try:
            if path.name == PREREQUISITES_FILE:
                model.prerequisites, found = _prerequisites(doc, source, modules)
                prerequisite_lines = doc
                problems += found
                continue
            role, found = _role(doc, source, modules, quiz_modules)
        except Exception as exc:  # a checker bug on one hostile file must not drop every role
            problems.append(RoleProblem(source, f"cannot load ({type(exc).__name__})"))
            continue
        problems += found
        if role is None:
            continue
        if role.id in model.roles:
            problems.append(RoleProblem(source, f"role id {role.id!r} is also used by {model.roles[role.id].source}",
                                        doc.line("id")))
            continue
        named = (role.name, *role.other_names)
        for i, alias in enumerate((*named, *role.aliases)):
            key = alias.casefold().strip()
            if key and aliases.get(key, role.id) != role.id:
                where = doc.line("aliases", i - len(named)) if i >= len(named) else doc.line("name")
                problems.append(RoleProblem(source, f"alias {alias!r} also names role {aliases[key]!r}", where,
                                            severity="warning"))
            aliases.setdefault(key, role.id)
        model.roles[role.id] = role
    problems += _cycles(model.prerequisites, _relative(folder / PREREQUISITES_FILE, base), prerequisite_lines)
    return model, problems


def _read_role_file(path: Path, folder: Path, source: str, problems: list[RoleProblem]) -> _Lines | None:
    """One role file parsed with line numbers, or None after adding why it cannot be.

    Args:
        path: the file.
        folder: the roles folder (the file must resolve inside it; links are refused).
        source: the file as shown in problems.
        problems: where the refusal is added.

    Returns:
        The parsed file, or None.
    """
    try:
        return _Lines(safe_yaml.read_text(path, folder))
    except OSError as exc:
        problems.append(RoleProblem(source, f"cannot read file: {exc}"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(RoleProblem(source, f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                                    mark.line + 1 if mark else None))
    return None


def _relative(path: Path, base: Path) -> str:
    try:
        # The folder resolved, not the file: a link is named where it is, not where it points.
        return (path.parent.resolve() / path.name).relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _role(doc: _Lines, source: str, modules: set[str] | None,
          quiz_modules: set[str] | None) -> tuple[Role | None, list[RoleProblem]]:
    data = doc.data
    problems: list[RoleProblem] = []

    def error(message: str, *path: Any, severity: str = "error") -> None:
        problems.append(RoleProblem(source, message, doc.line(*path), severity))

    if not isinstance(data, dict):
        error("a role file must be a mapping with id, name and competencies")
        return None, problems
    for key in data:
        if key not in _ROLE_KEYS:
            error(f"unknown key {key!r}", key, severity="warning")
    role_id = data.get("id")
    if not isinstance(role_id, str) or not role_id.strip() or role_id != role_id.strip().lower() or " " in role_id:
        error("id must be a lower-case name without spaces, e.g. section-officer", "id")
    for key in ("name",):
        if not isinstance(data.get(key), str) or not data[key].strip():
            error(f"{key} is required", key)
    for key in ("aliases", "tags", "activities"):
        if key in data and not _names(data[key]):
            error(f"{key} must be a list of texts", key)
    comps_raw = data.get("competencies")
    competencies: list[Competency] = []
    if not isinstance(comps_raw, list) or not comps_raw:
        error("competencies must be a non-empty list", "competencies")
        comps_raw = []
    seen: set[str] = set()
    for i, raw in enumerate(comps_raw):
        competency = _competency(raw, i, doc, error, modules, quiz_modules)
        if competency is None:
            continue
        if competency.name.casefold() in seen:
            error(f"competency {competency.name!r} is listed twice", "competencies", i)
            continue
        seen.add(competency.name.casefold())
        competencies.append(competency)
    names = _other_names(data, error)
    onboarding = None
    if "onboarding" in data:
        onboarding = _onboarding(data["onboarding"], doc, error, modules)
    if any(p.severity == "error" for p in problems):
        return None, problems
    assert isinstance(role_id, str) and isinstance(data["name"], str)  # checked above: else an error
    return Role(
        id=role_id,
        name=data["name"].strip(),
        names=names,
        level=str(data.get("level") or ""),
        description=str(data.get("description") or "").strip(),
        aliases=tuple(a.strip() for a in data.get("aliases") or ()),
        tags=tuple(data.get("tags") or ()),
        activities=tuple(data.get("activities") or ()),
        competencies=tuple(competencies),
        onboarding=onboarding,
        source=source,
    ), problems


def _other_names(data: dict[str, Any], error: Any) -> dict[str, str]:
    """The role's names by language: ``names: {hi: ..., bn: ...}``, plus the older ``name_hi``.

    Args:
        data: The role file's mapping.
        error: Reports a problem (message, *path, severity=).

    Returns:
        Language code -> name; ``names`` wins over ``name_hi`` for Hindi.
    """
    names: dict[str, str] = {}
    legacy = data.get("name_hi")
    if isinstance(legacy, str) and legacy.strip():
        names["hi"] = legacy.strip()
    raw = data.get("names")
    if raw is None:
        return names
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        error("names must map language codes to names, e.g. {hi: अनुभाग अधिकारी}", "names")
        return names
    names.update({code.strip(): name.strip() for code, name in raw.items() if code.strip() and name.strip()})
    return names


def _competency(raw: Any, i: int, doc: _Lines, error: Any, modules: set[str] | None,
                quiz_modules: set[str] | None) -> Competency | None:
    where = ("competencies", i)
    if not isinstance(raw, dict):
        error("each competency must be a mapping with name, type, modules", *where)
        return None
    for key in raw:
        if key not in _COMPETENCY_KEYS:
            error(f"unknown competency key {key!r}", *where, key, severity="warning")
    ok = True
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        error("competency name is required", *where)
        ok = False
    if raw.get("type") not in COMPETENCY_TYPES:
        error(f"type must be one of {', '.join(COMPETENCY_TYPES)}, got {raw.get('type')!r}", *where, "type")
        ok = False
    priority = raw.get("priority", 2)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 3:
        error(f"priority must be 1, 2 or 3, got {priority!r}", *where, "priority")
        ok = False
    target = raw.get("target", DEFAULT_TARGET)
    if not isinstance(target, (int, float)) or isinstance(target, bool) or not 0 < target <= 1:
        error(f"target must be a number between 0 and 1, got {target!r}", *where, "target")
        ok = False
    lists = {}
    for key in ("modules", "quizzes", "measured_by"):
        value = raw.get(key, [])
        if not _names(value):
            error(f"{key} must be a list of names", *where, key)
            ok = False
            value = []
        lists[key] = value
    if not lists["modules"] and not lists["quizzes"]:
        error("a competency needs at least one module or quiz bank that builds it", *where)
        ok = False
    for j, module in enumerate(lists["modules"]):
        if modules is not None and module not in modules:
            error(f"module {module!r} is not a module in knowledge_base/modules", *where, "modules", j)
            ok = False
    for j, bank in enumerate(lists["quizzes"]):
        if quiz_modules is not None and bank not in quiz_modules:
            error(f"quiz bank {bank!r} does not exist (no quiz file has module: {bank})", *where, "quizzes", j)
            ok = False
    if not ok:
        return None
    assert isinstance(name, str)  # checked above: else ok is False
    return Competency(name.strip(), raw["type"], priority, float(target),
                      tuple(lists["measured_by"]) or (name.strip(),), tuple(lists["modules"]),
                      tuple(lists["quizzes"]))


def _onboarding(raw: Any, doc: _Lines, error: Any, modules: set[str] | None) -> Onboarding | None:
    if not isinstance(raw, dict):
        error("onboarding must be a mapping with days and modules", "onboarding")
        return None
    days = raw.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 90:
        error(f"onboarding days must be a whole number from 1 to 90, got {days!r}", "onboarding", "days")
        return None
    mods = raw.get("modules")
    if not _names(mods) or not mods:
        error("onboarding modules must be a non-empty list of module ids", "onboarding", "modules")
        return None
    for j, module in enumerate(mods):
        if modules is not None and module not in modules:
            error(f"module {module!r} is not a module in knowledge_base/modules", "onboarding", "modules", j)
            return None
    return Onboarding(days, tuple(mods))


def _prerequisites(doc: _Lines, source: str,
                   modules: set[str] | None) -> tuple[dict[str, tuple[str, ...]], list[RoleProblem]]:
    problems: list[RoleProblem] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    raw = data.get("prerequisites")
    if not isinstance(raw, dict):
        problems.append(RoleProblem(source, "expected a mapping 'prerequisites: {module: [modules it needs]}'",
                                    doc.line("prerequisites")))
        return {}, problems
    out: dict[str, tuple[str, ...]] = {}
    for module, needs in raw.items():
        if not _names(needs):
            problems.append(RoleProblem(source, f"prerequisites of {module!r} must be a list of module ids",
                                        doc.line("prerequisites", module)))
            continue
        bad = [m for m in (module, *needs) if modules is not None and m not in modules]
        if bad:
            problems.append(RoleProblem(source, f"unknown module(s) {', '.join(map(repr, bad))}",
                                        doc.line("prerequisites", module)))
            continue
        if module in needs:
            problems.append(RoleProblem(source, f"module {module!r} cannot need itself",
                                        doc.line("prerequisites", module)))
            continue
        out[module] = tuple(needs)
    return out, problems


def _cycles(prerequisites: dict[str, tuple[str, ...]], source: str, doc: _Lines | None = None) -> list[RoleProblem]:
    """Report prerequisite cycles (a plan could never order them)."""
    state: dict[str, int] = {}
    found: list[RoleProblem] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for need in prerequisites.get(module, ()):
            if state.get(need) == 1:
                cycle = trail[trail.index(need):] + [need] if need in trail else [module, need]
                found.append(RoleProblem(source, "prerequisite cycle: " + " -> ".join(cycle),
                                         doc.line("prerequisites", module) if doc else None))
            elif need not in state:
                visit(need, [*trail, need])
        state[module] = 2

    for module in sorted(prerequisites):
        if module not in state:
            visit(module, [module])
    return found


def load_default_roles(kb_dir: Path) -> tuple[RoleModel, list[RoleProblem]]:
    """Load ``<kb_dir>/roles`` checked against the modules and quiz banks in ``kb_dir``.

    Args:
        kb_dir: The knowledge folder.

    Returns:
        ``(model, problems)`` as :func:`load_roles`.
    """
    kb_dir = Path(kb_dir)
    return load_roles(kb_dir / "roles", modules=known_modules(kb_dir), quiz_modules=known_quiz_modules(kb_dir),
                      base=kb_dir)


def known_modules(kb_dir: Path) -> set[str]:
    """Module ids declared in the front matter of ``<kb_dir>/modules/*.md`` (cheap: front matter only)."""
    return set(module_titles(kb_dir))


def module_titles(kb_dir: Path) -> dict[str, str]:
    """``{module id: document title}`` from the front matter of ``<kb_dir>/modules/*.md``.

    Superseded documents are left out: a plan never sends a learner to a lapsed circular.
    """
    found: dict[str, str] = {}
    for path in sorted((Path(kb_dir) / "modules").glob("*.md")):
        if path.is_symlink():  # refused as a document too: not a module of this folder
            continue
        # Bounded like the indexer's parse: front matter is capped, aliases cannot explode.
        meta = read_front_matter(path)
        if meta.get("superseded_by"):
            continue
        found[str(meta.get("module") or path.stem)] = str(meta.get("title") or path.stem)
    return found


def known_quiz_modules(kb_dir: Path) -> set[str]:
    """Module ids that have a quiz bank in ``<kb_dir>/quizzes``."""
    found: set[str] = set()
    folder = Path(kb_dir) / "quizzes"
    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = safe_yaml.load_file(path, folder)
        except (yaml.YAMLError, OSError):
            continue  # load_banks reports why
        if isinstance(data, dict) and isinstance(data.get("module"), str) and data["module"].strip():
            found.add(data["module"])
    return found
