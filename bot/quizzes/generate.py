"""Cloze questions generated from the course material, for trainers to review.

For modules without a hand-written bank, key facts are blanked out of sentences of the
material: time limits and other numbers with units (days, hours, weeks, months, years,
Rs amounts, percentages), calendar years, authorities ("First Appellate Authority",
"Central Information Commission") and defined terms (``- **Term** (Section 2(f)): ...``).
Distractors are similar facts found elsewhere in the material: the same unit with a
different value (nearest values first), other authorities (same kind of body first),
other defined terms.

Every item is a single-choice question marked ``generated: true`` with the source
sentence as explanation, the chunk's document and anchor as source and the
document's competencies. Its id is a hash of the source sentence, so it stays the same
across re-indexing and regeneration. Items are written to
``<kb>/quizzes/generated/<module>.quiz.yml`` with ``status: pending``; a trainer
approves or rejects them by editing ``status`` or with the ``review`` command.
Only approved items are served (see :meth:`bot.quizzes.banks.QuizBank.load`), and
only while their source sentence is still in the material.

This module is the command line; the drafting is :mod:`bot.quizzes.cloze` and the
bank files and their review :mod:`bot.quizzes.generated_banks`.

Usage::

    python -m bot.quizzes.generate [--kb DIR] [--index DIR] [--out DIR] [--all] [--module M ...]
    python -m bot.quizzes.generate review [--kb DIR] [--out DIR] --approve ID ... --reject ID ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.quizzes.generated_banks import GENERATED_SUBDIR, generate, review


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m bot.quizzes.generate`` (and ``kb generate-quiz``)."""
    parser = argparse.ArgumentParser(prog="python -m bot.quizzes.generate",
                                     description="Generate cloze questions from the material for trainers to review.")
    parser.add_argument("command", nargs="?", choices=["generate", "review"], default="generate")
    parser.add_argument("--kb", help="knowledge folder (default: $TUTOR_KB_DIR or knowledge_base/)")
    parser.add_argument("--index", help="index folder to read chunks from (default: the configured index)")
    parser.add_argument("--out", help="generated banks folder (default: <kb>/quizzes/generated/)")
    parser.add_argument("--all", action="store_true", help="also modules that have a hand-written bank")
    parser.add_argument("--module", action="append", default=[], help="only this module (repeatable)")
    parser.add_argument("--approve", nargs="+", default=[], metavar="ID", help="review: approve these items")
    parser.add_argument("--reject", nargs="+", default=[], metavar="ID", help="review: reject these items")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (1 when a reviewed id is unknown)."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run parsed arguments of :func:`build_parser` (also used by ``kb generate-quiz``)."""
    from bot.config import load_settings

    settings = load_settings()
    kb_dir = Path(args.kb) if args.kb else Path(settings.kb_dir)
    out_dir = Path(args.out) if args.out else kb_dir / "quizzes" / GENERATED_SUBDIR
    if args.command == "review":
        if not args.approve and not args.reject:
            print("review needs --approve ID ... and/or --reject ID ...", file=sys.stderr)
            return 2
        changed, missing = review(out_dir, args.approve, args.reject)
        print(f"{changed} item(s) updated in {out_dir}")
        for item_id in missing:
            print(f"unknown item id: {item_id}", file=sys.stderr)
        return 1 if missing else 0
    index_dir = Path(args.index) if args.index else (None if args.kb else Path(settings.index_dir))
    report = generate(kb_dir, out_dir, index_dir=index_dir, all_modules=args.all, modules=set(args.module) or None)
    for module, count in sorted(report.written.items()):
        print(f"{out_dir / (module + '.quiz.yml')}: {count} item(s)")
    print(f"{report.new} new, {report.kept_reviewed} reviewed kept, {report.dropped} dropped"
          + ("" if report.written else " (every module has a hand-written bank; use --all to generate anyway)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
