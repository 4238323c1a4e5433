"""``kb validate``: check the knowledge folder without indexing it.

Reports, with file and line where known: unreadable documents, malformed front
matter, unknown or mistyped metadata, duplicate titles, ``superseded_by`` pointing at
no module, and (through :mod:`bot.learning.banks`) malformed quiz banks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.documents import KNOWN_META_KEYS
from bot.knowledge.loader import LoadFailure, discover, load_safely


@dataclass(frozen=True)
class Problem:
    source: str
    message: str
    line: int | None = None
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{self.severity.upper()}: {where}: {self.message}"


_LIST_KEYS = {"competencies", "roles", "tags"}
_DATE_KEYS = {"issued", "effective", "expires"}


def validate_kb(kb_dir: Path) -> list[Problem]:
    """Check every document and quiz bank in ``kb_dir``.

    Args:
        kb_dir: the knowledge folder.

    Returns:
        Problems found, errors and warnings, in file order.
    """
    kb_dir = Path(kb_dir).resolve()
    problems: list[Problem] = []
    failures: dict[str, str] = {}
    titles: dict[str, str] = {}
    modules: set[str] = set()
    superseded: list[tuple[str, str]] = []
    for path in discover(kb_dir, failures):
        source = path.relative_to(kb_dir).as_posix()
        result = load_safely(path, kb_dir)
        if isinstance(result, LoadFailure):
            match = re.match(r"line (\d+): (.*)", result.reason)
            problems.append(Problem(source, match.group(2) if match else result.reason,
                                    int(match.group(1)) if match else None))
            continue
        problems += _check_meta(source, result.meta)
        if result.title in titles:
            problems.append(Problem(source, f"duplicate title {result.title!r} (also {titles[result.title]})",
                                    severity="warning"))
        titles.setdefault(result.title, source)
        modules.add(str(result.meta.get("module") or Path(source).stem))
        if result.meta.get("superseded_by"):
            superseded.append((source, str(result.meta["superseded_by"])))
    problems += [Problem(s, r) for s, r in failures.items()]
    for source, target in superseded:
        if target not in modules and not (kb_dir / target).exists():
            problems.append(Problem(source, f"superseded_by {target!r} names no module or file", severity="warning"))
    problems += _check_quiz_banks(kb_dir)
    problems += _check_roles(kb_dir)
    problems += _check_glossary(kb_dir)
    return sorted(problems, key=lambda p: (p.source, p.line or 0))


def _check_meta(source: str, meta: dict) -> list[Problem]:
    problems = []
    for key, value in meta.items():
        if key not in KNOWN_META_KEYS:
            problems.append(Problem(source, f"unknown front-matter key {key!r}", severity="warning"))
        elif key in _LIST_KEYS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(Problem(source, f"{key} must be a list of names"))
        elif key in _DATE_KEYS:
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                problems.append(Problem(source, f"{key} must be a date like 2025-04-01, got {value!r}"))
        elif key == "language" and not re.fullmatch(r"[a-z]{2,3}", str(value)):
            problems.append(Problem(source, f"language must be a code like en or hi, got {value!r}"))
    return problems


def _check_quiz_banks(kb_dir: Path) -> list[Problem]:
    """Quiz-bank problems from :func:`bot.learning.banks.load_banks`, as ``kb validate`` lines.

    Args:
        kb_dir: the knowledge folder; banks live in its ``quizzes/`` folder.

    Returns:
        One :class:`Problem` per bank problem (file relative to ``kb_dir``, line, severity).
    """
    folder = kb_dir / "quizzes"
    if not folder.is_dir():
        return []
    try:
        from bot.learning.banks import load_banks
    except ImportError:  # the learning package is optional for a documents-only folder
        return []
    _, issues = load_banks(folder, base=kb_dir)
    out = []
    for issue in issues:
        message = f"[{issue.item_id}] {issue.message}" if getattr(issue, "item_id", None) else issue.message
        out.append(Problem(str(issue.file), message, issue.line, getattr(issue, "severity", "error")))
    return out


def _check_roles(kb_dir: Path) -> list[Problem]:
    """Role model files (``roles/``): structure, known modules and quiz banks, prerequisite cycles."""
    if not (kb_dir / "roles").is_dir():
        return []
    from bot.plans.roles import load_default_roles

    _, issues = load_default_roles(kb_dir)
    return [Problem(i.source, i.message, i.line, i.severity) for i in issues]


def _check_glossary(kb_dir: Path) -> list[Problem]:
    """The acronym glossary (``glossary.yml``), if present, must parse (see bot.knowledge.text)."""
    from bot.knowledge.text import Glossary, GlossaryError

    path = kb_dir / "glossary.yml"
    try:
        Glossary.load(path)
    except GlossaryError as exc:
        return [Problem("glossary.yml", str(exc).removeprefix("glossary.yml: "))]
    return []
