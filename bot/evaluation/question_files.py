"""Checking a question file: ``python -m bot.evaluation.question_files FILE.jsonl [--docs DIR]``.

Each line of a question file (``tests/data/officer_eval/``, ``bot/knowledge/reranker_data/``)
is ``{"id", "question", "lang", "source", "gold": [span, ...], "kind"}``; out-of-scope rows
have ``source: null`` and no spans. A gold span must occur verbatim (after
:func:`~bot.evaluation.metrics.normalise_text`) in its document, so that a passage
containing it answers the question. Writers run this before handing a file over; the
unit tests run it on every file in the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.evaluation.metrics import normalise_text
from bot.evaluation.sets import SHARED


def problems(path: Path, docs: Path = SHARED / "corpus") -> list[str]:
    """What is wrong with a question file (empty when nothing is).

    Args:
        path: the JSON-lines file.
        docs: the folder its ``source`` paths are relative to.

    Returns:
        One message per problem: duplicate ids, unknown documents, missing, unfound or
        overlong spans.
    """
    found: list[str] = []
    ids: set[str] = set()
    texts: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["id"] in ids:
            found.append(f"{row['id']}: duplicate id")
        ids.add(row["id"])
        source = row.get("source")
        if not source:
            continue
        if source not in texts:
            document = docs / source
            texts[source] = normalise_text(document.read_text(encoding="utf-8")) if document.is_file() else ""
        if not texts[source]:
            found.append(f"{row['id']}: no such document {source}")
            continue
        if not row.get("gold"):
            found.append(f"{row['id']}: no gold span")
        for span in row.get("gold", []):
            normalised = normalise_text(span)
            if normalised not in texts[source]:
                found.append(f"{row['id']}: span not found: {span}")
            if len(normalised.split()) < 3 or len(normalised) > 160:
                found.append(f"{row['id']}: a span should have 3-25 words, under 160 characters: {span}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Check a question file against the documents it cites; print the problems.

    Returns:
        0 when there are none, else 1.
    """
    parser = argparse.ArgumentParser(prog="python -m bot.evaluation.question_files", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--docs", default=str(SHARED / "corpus"))
    args = parser.parse_args(argv)
    found = problems(Path(args.file), Path(args.docs))
    print("\n".join(found + [f"{len(found)} problems"]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
