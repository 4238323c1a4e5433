"""``kb validate``: check the knowledge folder without indexing it.

The document checks of :mod:`bot.knowledge.validation` plus what the floors above read
from the same folder: quiz banks (:mod:`bot.quizzes.banks`) and role files
(:mod:`bot.plans.roles`).
"""

from __future__ import annotations

from pathlib import Path

from bot.knowledge.validation import Problem, validate_documents


def validate_kb(kb_dir: Path) -> list[Problem]:
    """Check every document, quiz bank and role file in ``kb_dir``, and its glossary.

    Args:
        kb_dir: the knowledge folder.

    Returns:
        Problems found, errors and warnings, in file order.
    """
    return validate_documents(kb_dir, extra_checks=(_check_quiz_banks, _check_roles))


def _check_quiz_banks(kb_dir: Path) -> list[Problem]:
    """Quiz-bank problems from :func:`bot.quizzes.banks.load_banks`, as ``kb validate`` lines.

    Args:
        kb_dir: the knowledge folder; banks live in its ``quizzes/`` folder.

    Returns:
        One :class:`Problem` per bank problem (file relative to ``kb_dir``, line, severity).
    """
    folder = kb_dir / "quizzes"
    if not folder.is_dir():
        return []
    try:
        from bot.quizzes.banks import load_banks
    except ImportError:  # the quizzes package is optional for a documents-only folder
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
