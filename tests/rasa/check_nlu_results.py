"""Fail unless held-out NLU accuracy meets its floors, overall and in every language.

Run after ``rasa test nlu --nlu tests/nlu --successes``. Each held-out file holds one
language (``held_out_<code>.yml``; ``hi_latn`` is romanised Hindi), so a language that
the pooled figure would hide (a few dozen Tamil lines among hundreds of English ones)
still fails the check on its own.

Usage: python tests/rasa/check_nlu_results.py results/nlu tests/nlu [--min-accuracy 0.85]
       [--min-language-accuracy 0.80]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

#: ``[text](entity)`` and ``[text]{"entity": ...}`` annotations, as Rasa strips them.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\{[^}]*\}|\([^)]*\))")


def held_out_languages(folder: Path) -> dict[str, str]:
    """Each held-out example's text (as Rasa reports it), mapped to its file's language."""
    languages: dict[str, str] = {}
    for path in sorted(folder.glob("held_out_*.yml")):
        language = path.stem.removeprefix("held_out_")
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in (item.get("examples") or "").splitlines():
                text = _ANNOTATION.sub(r"\1", line.strip().removeprefix("- ").strip())
                if text:
                    languages[text] = language
    return languages


def _read(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("held_out", type=Path)
    parser.add_argument("--min-accuracy", type=float, default=0.85)
    parser.add_argument("--min-language-accuracy", type=float, default=0.80)
    args = parser.parse_args()
    report = json.loads((args.results / "intent_report.json").read_text())
    errors = _read(args.results / "intent_errors.json")
    successes = _read(args.results / "intent_successes.json")
    if not successes:
        print("no intent_successes.json: run rasa test nlu with --successes")
        return 1
    languages = held_out_languages(args.held_out)
    total: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for entry in successes:
        correct[languages.get(entry["text"], "unknown")] += 1
    for entry in successes + errors:
        total[languages.get(entry["text"], "unknown")] += 1
    for error in errors:
        print(f"  misclassified ({languages.get(error['text'], '?')}): {error['text']!r}: expected "
              f"{error['intent']}, got {error['intent_prediction']['name']}")
    failed = []
    for language in sorted(total):
        accuracy = correct[language] / total[language]
        print(f"  {language:8} {accuracy:.3f} ({correct[language]}/{total[language]})")
        if accuracy < args.min_language_accuracy:
            failed.append(language)
    accuracy = report["accuracy"]
    print(f"held-out intent accuracy {accuracy:.3f} (floor {args.min_accuracy}; "
          f"per language floor {args.min_language_accuracy})")
    if failed:
        print(f"below the per-language floor: {', '.join(failed)}")
    return 0 if accuracy >= args.min_accuracy and not failed and "unknown" not in total else 1


if __name__ == "__main__":
    sys.exit(main())
