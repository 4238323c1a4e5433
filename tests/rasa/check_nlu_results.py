"""Fail unless held-out NLU accuracy meets the floor (run after `rasa test nlu`).

Usage: python tests/rasa/check_nlu_results.py results/nlu [--min-accuracy 0.85]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("--min-accuracy", type=float, default=0.85)
    args = parser.parse_args()
    report = json.loads((args.results / "intent_report.json").read_text())
    accuracy = report["accuracy"]
    errors = json.loads((args.results / "intent_errors.json").read_text()) if (args.results / "intent_errors.json").exists() else []
    for error in errors:
        print(f"  misclassified: {error['text']!r}: expected {error['intent']}, got {error['intent_prediction']['name']}")
    print(f"held-out intent accuracy {accuracy:.3f} (floor {args.min_accuracy})")
    return 0 if accuracy >= args.min_accuracy else 1


if __name__ == "__main__":
    sys.exit(main())
