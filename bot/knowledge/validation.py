"""Check the documents of a knowledge folder without indexing them.

Reports, with file and line where known: unreadable documents, malformed front
matter, unknown or mistyped metadata, duplicate titles, ``superseded_by`` pointing at
no module, and a glossary that does not parse. Checks of what the floors above read
from the folder (quiz banks, role files) come in as ``extra_checks``: ``kb validate``
(:mod:`bot.kb.validation`) adds them, so this package imports nothing above it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
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


_LIST_KEYS = {"competencies", "roles", "tags", "applies_to"}
_DATE_KEYS = {"issued", "effective", "expires"}


def validate_documents(kb_dir: Path, extra_checks: Sequence[Callable[[Path], list[Problem]]] = ()) -> list[Problem]:
    """Check every document in ``kb_dir`` and its glossary, plus ``extra_checks``.

    Args:
        kb_dir: the knowledge folder.
        extra_checks: more checks of the folder (each given the resolved folder), run
            after the documents' and before the glossary's.

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
    for check in extra_checks:
        problems += check(kb_dir)
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


def _check_glossary(kb_dir: Path) -> list[Problem]:
    """The acronym glossary (``glossary.yml``), if present, must parse (see bot.knowledge.text)."""
    from bot.knowledge.text import Glossary, GlossaryError

    path = kb_dir / "glossary.yml"
    try:
        Glossary.load(path)
    except GlossaryError as exc:
        return [Problem("glossary.yml", str(exc).removeprefix("glossary.yml: "))]
    return []
