"""Training examples with hard negatives mined from today's retriever, cached on disk.

Mining searches every training question once with the hybrid retriever (reranker off),
so the examples are cached under ``.state/training/`` and reused while the indexes,
the written data, the pair-making code and the seed are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.training.pairs import (
    DATA_DIR,
    HELD_OUT,
    Example,
    answering_chunks,
    split_of,
    structural_questions,
    written_questions,
)

STATE = PROJECT_ROOT / ".state" / "training"
SEED = 13
INDEXES = ("corpus", "kb")


def training_examples(workspace, seed: int = SEED) -> tuple[dict, list[Example]]:
    """Retrievers (reranker off) over the training indexes, and the examples.

    Args:
        workspace: a :class:`bot.evaluation.runner.Workspace` (builds the indexes).
        seed: random seed of the structural questions and random negatives.

    Returns:
        ``({index name: Retriever}, examples)``.
    """
    retrievers = {name: workspace.retriever(name, reranker=None) for name in INDEXES}
    STATE.mkdir(parents=True, exist_ok=True)
    cache = STATE / "examples.jsonl"
    key = _examples_key(retrievers, seed)
    if cache.exists() and cache.read_text(encoding="utf-8").startswith(json.dumps({"key": key})):
        lines = cache.read_text(encoding="utf-8").splitlines()[1:]
        return retrievers, [Example(**json.loads(line)) for line in lines]
    examples = mine_examples(retrievers, seed=seed)
    workspace.save()
    cache.write_text("\n".join([json.dumps({"key": key}), *(json.dumps(asdict(e)) for e in examples)]) + "\n",
                     encoding="utf-8")
    return retrievers, examples


def mine_examples(retrievers: dict, negatives: int = 7, seed: int = SEED, mine_depth: int = 20) -> list[Example]:
    """Examples with hard negatives from each index's hybrid retriever.

    Args:
        retrievers: index name (``corpus``, ``kb``) -> a :class:`Retriever` without reranker.
        negatives: hard negatives per question (plus one random chunk).
        seed: random seed (templates, random negatives).
        mine_depth: how deep in the hybrid ranking negatives are taken from.

    Returns:
        The examples; written questions whose spans no chunk contains are dropped.
    """
    rng = random.Random(seed)
    written = written_questions()
    examples: list[Example] = []
    for index_name, retriever in retrievers.items():
        chunks = [c for c in retriever.index.chunks if c.source not in HELD_OUT]
        by_id = {c.id: c for c in chunks}
        questions: list[tuple[str, list[str], str, str, str]] = []
        for row in (r for r in written if r["index"] == index_name):
            answering = answering_chunks(chunks, row["source"], row["gold"])
            if answering:
                questions.append((row["question"], [c.id for c in answering], "written",
                                  split_of(row["id"]), row["source"]))
        for question, ids in structural_questions(chunks, rng):
            questions.append((question, ids, "structural", "train", by_id[ids[0]].source))
        started = time.perf_counter()
        for n, (question, positives, kind, split, source) in enumerate(questions, 1):
            sections = {(by_id[p].source, tuple(by_id[p].heading_path)) for p in positives}
            hits = retriever.search(question, k=mine_depth).hits
            hard = [h.chunk.id for h in hits
                    if h.chunk.id not in positives and h.chunk.source not in HELD_OUT
                    and (h.chunk.source, tuple(h.chunk.heading_path)) not in sections][:negatives]
            extra = rng.choice(chunks).id
            if extra not in positives and extra not in hard:
                hard.append(extra)
            examples.append(Example(question, positives, hard, kind, split, source))
            if n % 250 == 0:
                print(f"  [{index_name}] mined {n}/{len(questions)} ({time.perf_counter() - started:.0f}s)",
                      file=sys.stderr, flush=True)
    return examples


def _examples_key(retrievers: dict, seed: int) -> str:
    """Mined examples are reused while the indexes, the written data and the seed are the same."""
    digest = hashlib.sha1(str(seed).encode())
    for name, retriever in sorted(retrievers.items()):
        digest.update(f"{name}:{retriever.index.version}:{len(retriever.index.chunks)}".encode())
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        digest.update(path.read_bytes())
    digest.update(Path(__file__).with_name("pairs.py").read_bytes())
    return digest.hexdigest()


