"""The team's written questions and how they split: train, dev, and held-out documents.

Shared by training (:mod:`bot.training.pairs`, which makes examples from the train split)
and evaluation (which reports on the dev split and the held-out documents), so it lives
on evaluation's floor: training imports evaluation, never the other way round.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "reranker_data"
#: Corpus documents kept out of training entirely (reported as "unseen" by ``make eval``).
HELD_OUT = frozenset({
    "posh-act-2013.md", "rpwd-act-2016.md", "lokpal-lokayuktas-act-2013.md",
    # FAQ documents: their own question-answer pairs are evaluation sets.
    "cghs-faq.md", "dopw-pension-faq-2018.md", "dopt-ltdp-training-faq-2011.md",
})
#: Share of written questions kept aside (by hash of their id) to choose the blend weight.
DEV_SHARE = 0.15


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines file (none when it does not exist)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def written_questions(data_dir: Path = DATA_DIR) -> list[dict]:
    """The team's written training questions: ``[{id, question, source, gold, index}]``.

    ``index`` names the evaluation index the question's document lives in: ``kb`` for
    ``written_questions_kb.jsonl``, ``corpus`` otherwise.
    """
    rows = [{**r, "index": "corpus"} for r in read_jsonl(data_dir / "written_questions.jsonl")]
    rows += [{**r, "index": "kb"} for r in read_jsonl(data_dir / "written_questions_kb.jsonl")]
    return [r for r in rows if r.get("source") and r.get("gold") and r["source"] not in HELD_OUT]


def split_of(key: str, dev_share: float = DEV_SHARE) -> str:
    """``dev`` or ``train``, stable for a given id."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if bucket < dev_share else "train"
