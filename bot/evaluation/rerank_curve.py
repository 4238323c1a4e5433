"""The reranker's quality/latency curve: ``python -m bot.evaluation.rerank_curve``.

For each trained model (``--models``), passage length (``--lengths``, tokens of question
plus passage) and number of candidates (``--depths``) it reports hit@1 and MRR@10 of
the blended ranking and the p50 latency of scoring the candidates on one thread (int8,
as served). The blend weight is chosen per point on the written dev questions
(:mod:`bot.training.pairs`), which also choose the point that ships; the blind
officer-style questions are reported beside, never used to choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.config import PROJECT_ROOT
from bot.knowledge.reranker import MODEL_DIR, Reranker, blend

if TYPE_CHECKING:
    from bot.evaluation.sets import Judge

BUDGET_MS = 100.0


def _cases(retrievers: dict, questions: Sequence[tuple[str, str, Judge]], depth: int) -> list[dict]:
    """Fused top-``depth`` candidates (reranker off) and their relevance, per question."""
    cases = []
    for question, index_name, judge in questions:
        hits = retrievers[index_name].search(question, k=depth, rerank=False).hits
        cases.append({"question": question, "fused": np.array([h.score for h in hits]),
                      "texts": [h.chunk.embed_text for h in hits],
                      "relevant": np.array([judge(h.chunk) > 0 for h in hits])})
    return cases


def _metrics(cases: list[dict], logits: list[np.ndarray], depth: int, weight: float) -> dict[str, float]:
    hit1, rr = [], []
    for case, scores in zip(cases, logits, strict=True):
        fused, relevant = case["fused"], case["relevant"]
        head = blend(fused[:depth], scores[:depth], weight)
        order = np.concatenate([np.argsort(-head, kind="stable"), np.arange(depth, len(fused))])
        ranked = relevant[order][:10]
        hit1.append(float(ranked[:1].any()))
        first = np.flatnonzero(ranked)
        rr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
    return {"hit@1": float(np.mean(hit1)), "mrr@10": float(np.mean(rr))}


def curve(models: list[Path], lengths: list[int], depths: list[int], grid=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)):
    """Rows of the curve (see the module docstring) and the fusion-alone baseline."""
    import torch

    from bot.evaluation.runner import Workspace
    from bot.evaluation.sets import load_officer, span_judge
    from bot.evaluation.splits import split_of, written_questions

    torch.set_num_threads(1)
    workspace = Workspace.create(PROJECT_ROOT / ".state" / "eval")
    retrievers = {name: workspace.retriever(name, reranker=None) for name in ("corpus", "kb")}
    dev = [(r["question"], r["index"], span_judge(r["source"], r["gold"]))
           for r in written_questions() if split_of(r["id"]) == "dev"]
    officer = [(q.text, "corpus", q.judge) for q in load_officer(("en",)).queries]
    deepest = max(depths)
    sets = {"dev": _cases(retrievers, dev, deepest), "officer-en": _cases(retrievers, officer, deepest)}
    rows = []
    for folder in models:
        for length in lengths:
            reranker = Reranker(folder)
            reranker.config = dataclasses.replace(reranker.config, max_length=length)
            logits = {name: [reranker.score(c["question"], c["texts"]) for c in cases]
                      for name, cases in sets.items()}
            for depth in depths:
                timings = []
                for case in sets["officer-en"][:40]:
                    started = time.perf_counter()
                    reranker.score(case["question"], case["texts"][:depth])
                    timings.append(1000 * (time.perf_counter() - started))
                weight = max(grid, key=lambda w: (_metrics(sets["dev"], logits["dev"], depth, w)["mrr@10"], -w))
                row = {"model": folder.name, "layers": reranker.config.layers, "length": length, "depth": depth,
                       "weight": weight, "p50_ms": statistics.median(timings),
                       "dev": _metrics(sets["dev"], logits["dev"], depth, weight),
                       "officer-en": _metrics(sets["officer-en"], logits["officer-en"], depth, weight)}
                rows.append(row)
                print(_line(row), flush=True)
    baseline = {name: _metrics(cases, [np.zeros(len(c["fused"])) for c in cases], 1, 0.0)
                for name, cases in sets.items()}
    return {"rows": rows, "fusion": baseline, "budget_ms": BUDGET_MS}


def _line(row: dict) -> str:
    return (f"{row['model']:>16} L{row['layers']} len {row['length']:>3} depth {row['depth']:>2} w {row['weight']:<4} "
            f"{row['p50_ms']:7.1f} ms  dev hit@1 {row['dev']['hit@1']:.3f} mrr {row['dev']['mrr@10']:.3f}  "
            f"officer-en hit@1 {row['officer-en']['hit@1']:.3f} mrr {row['officer-en']['mrr@10']:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Measure reranker quality and cost across model folders, lengths and depths.

    Returns:
        The process exit status.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m bot.evaluation.rerank_curve", description=__doc__)
    parser.add_argument("--models", default=str(MODEL_DIR), help="comma-separated model folders")
    parser.add_argument("--lengths", default="96,128,160,224")
    parser.add_argument("--depths", default="5,10,15,20")
    args = parser.parse_args(argv)
    result = curve([Path(m) for m in args.models.split(",")], [int(x) for x in args.lengths.split(",")],
                   [int(x) for x in args.depths.split(",")])
    print("fusion alone:", json.dumps(result["fusion"]))
    within = [r for r in result["rows"] if r["p50_ms"] <= BUDGET_MS]
    if within:
        best = max(within, key=lambda r: (r["dev"]["mrr@10"], r["dev"]["hit@1"], -r["p50_ms"]))
        print("best within budget on dev:", _line(best))
    out = PROJECT_ROOT / ".state" / "eval" / "rerank_curve.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
