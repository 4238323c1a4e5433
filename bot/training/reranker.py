"""Train the cross-encoder reranker: ``python -m bot.training.reranker`` (``make train-reranker``).

Steps, all offline and seeded:

1. Build (or reuse) the evaluation indexes of ``knowledge_base/`` and ``../shared/corpus``
   with the project's own chunker (:class:`bot.evaluation.runner.Workspace`).
2. Make examples (:mod:`bot.training.pairs`): the team's written questions and
   structure-derived ones, each with its answering chunks and hard negatives mined from
   today's hybrid retriever (reranker off). Held-out documents never appear.
3. Fine-tune :func:`bot.knowledge.reranker.build_model` (the first layers of the packaged
   MiniLM, word embeddings frozen) with a listwise softmax loss over each question's
   group (one positive, the negatives) plus a pointwise logistic loss, so that scores
   are comparable across questions (the gate reads them).
4. Choose the blend weight (:func:`bot.knowledge.reranker.blend`) on the written
   questions kept aside (``split: dev``), then save the changed weights (float16).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from bot.config import PROJECT_ROOT
from bot.knowledge.reranker import (
    CONFIG_FILE,
    MODEL_DIR,
    Reranker,
    RerankerConfig,
    blend,
    build_model,
    save,
)
from bot.logging_setup import configure_logging
from bot.training.mining import SEED, training_examples
from bot.training.pairs import HELD_OUT, Example

log = logging.getLogger(__name__)

BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 100.0)


def chunk_texts(retrievers: dict) -> dict[str, str]:
    """Chunk id -> the text the cross-encoder reads (heading context first)."""
    return {c.id: c.embed_text for r in retrievers.values() for c in r.index.chunks}


def train(examples: list[Example], texts: dict[str, str], config: RerankerConfig, epochs: float = 1.0,
          lr: float = 1e-4, head_lr: float = 1e-3, group_size: int = 8, groups_per_batch: int = 4, written_repeat: int = 3,
          seed: int = SEED, threads: int | None = None):
    """Fine-tune a cross-encoder on the examples.

    Args:
        examples: training examples (``split == "train"``).
        texts: chunk id -> passage text.
        config: layers and max length of the model to build.
        epochs: passes over the examples (fractions allowed).
        lr: peak learning rate of the transformer layers (linear warm-up over 10 %, then decay).
        head_lr: peak learning rate of the freshly initialised head.
        group_size: one positive plus ``group_size - 1`` negatives per question.
        groups_per_batch: questions per optimiser step.
        written_repeat: written questions are seen this many times per epoch.
        seed: torch and sampling seed.
        threads: torch intra-op threads (default: all cores).

    Returns:
        The trained model (eval mode).
    """
    import torch

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = random.Random(seed)
    model, tokenizer = build_model(config.layers, config.base)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # stored by the base package
    pool = [e for e in examples if e.negatives]
    pool = [e for e in pool for _ in range(written_repeat if e.kind == "written" else 1)]
    steps = max(1, math.ceil(len(pool) * epochs / groups_per_batch))
    params = [p for p in model.parameters() if p.requires_grad]
    # The fresh head learns faster than the pretrained layers may move.
    optimiser = torch.optim.AdamW([
        {"params": [p for p in model.bert.parameters() if p.requires_grad], "lr": lr},
        {"params": list(model.head.parameters()), "lr": head_lr}], weight_decay=0.01)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    order: list[Example] = []
    started = time.perf_counter()
    for step in range(steps):
        if len(order) < groups_per_batch:
            fresh = pool[:]
            rng.shuffle(fresh)
            order += fresh
        batch, order = order[:groups_per_batch], order[groups_per_batch:]
        questions, passages = [], []
        for example in batch:
            positive = rng.choice(example.positives)
            negatives = rng.sample(example.negatives, min(group_size - 1, len(example.negatives)))
            while len(negatives) < group_size - 1:  # short groups repeat a negative
                negatives.append(rng.choice(example.negatives))
            for chunk_id in [positive, *negatives]:
                questions.append(example.question)
                passages.append(texts[chunk_id])
        encoded = tokenizer(questions, passages, truncation="only_second", max_length=config.max_length,
                            padding=True, return_tensors="pt")
        logits = model(**encoded).view(len(batch), group_size)
        targets = torch.zeros(len(batch), dtype=torch.long)
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        loss = torch.nn.functional.cross_entropy(logits, targets) + 0.5 * bce(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            elapsed = time.perf_counter() - started
            print(f"  step {step + 1}/{steps} loss {loss.item():.3f} ({elapsed:.0f}s, "
                  f"{(step + 1) * groups_per_batch * group_size / elapsed:.1f} pairs/s)", file=sys.stderr, flush=True)
    model.eval()
    return model


def choose_weight(examples: list[Example], retrievers_by_source: dict, reranker: Reranker,
                  grid=BLEND_GRID) -> tuple[float, dict[float, dict[str, float]]]:
    """The blend weight with the best MRR on the dev questions (then hit@1, then smaller).

    Args:
        examples: dev examples.
        retrievers_by_source: document -> the retriever (without reranker) of its index.
        reranker: the freshly trained reranker.

    Returns:
        ``(weight, {weight: {"hit@1", "mrr"}})``.
    """
    cases = []
    for example in examples:
        hits = retrievers_by_source[example.source].search(example.question, k=reranker.config.depth).hits
        if not hits:
            continue
        fused = np.array([h.score for h in hits])
        logits = reranker.score(example.question, [h.chunk.embed_text for h in hits])
        relevant = np.array([h.chunk.id in example.positives for h in hits])
        cases.append((fused, logits, relevant))
    table: dict[float, dict[str, float]] = {}
    for weight in grid:
        hit1, rr = [], []
        for fused, logits, relevant in cases:
            order = np.argsort(-blend(fused, logits, weight), kind="stable")
            ranked = relevant[order]
            hit1.append(float(ranked[0]))
            first = np.flatnonzero(ranked)
            rr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
        table[weight] = {"hit@1": float(np.mean(hit1)) if hit1 else 0.0, "mrr": float(np.mean(rr)) if rr else 0.0}
    best = max(grid, key=lambda w: (round(table[w]["mrr"], 4), table[w]["hit@1"], -w))
    return best, table


def main(argv: list[str] | None = None) -> int:
    """Mine examples, train, choose the blend weight, save to ``--out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m bot.training.reranker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=160, help="tokens read in training")
    parser.add_argument("--serve-length", type=int, default=128, help="tokens read at query time")
    parser.add_argument("--depth", type=int, default=5, help="candidates read at query time")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", default=str(MODEL_DIR))
    parser.add_argument("--state", default=str(PROJECT_ROOT / ".state" / "eval"),
                        help="evaluation workspace (indexes and query-vector cache)")
    parser.add_argument("--reweigh", action="store_true",
                        help="keep the trained model in --out; only choose its blend weight again "
                             "(after retrieval changed, e.g. a new query encoder)")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    from bot.evaluation.runner import Workspace

    started = time.perf_counter()
    workspace = Workspace.create(Path(args.state))
    retrievers, examples = training_examples(workspace, args.seed)
    mined = time.perf_counter() - started
    train_set = [e for e in examples if e.split == "train"]
    dev_set = [e for e in examples if e.split == "dev"]
    counts = {kind: sum(e.kind == kind for e in train_set) for kind in ("written", "structural")}
    print(f"examples: {counts} train, {len(dev_set)} dev written ({mined:.0f}s)", file=sys.stderr)
    by_source = {c.source: r for r in retrievers.values() for c in r.index.chunks}
    if args.reweigh:
        return _reweigh(Path(args.out), dev_set, by_source)
    config = RerankerConfig(layers=args.layers, max_length=args.max_length, depth=args.depth)
    train_started = time.perf_counter()
    model = train(train_set, chunk_texts(retrievers), config, epochs=args.epochs, lr=args.lr, seed=args.seed)
    train_seconds = time.perf_counter() - train_started
    out = Path(args.out)
    config = RerankerConfig(args.layers, args.serve_length, config.weight, config.base, depth=args.depth)
    save(model, config, out)
    weight, table = choose_weight(dev_set, by_source, Reranker(out))
    config = RerankerConfig(args.layers, args.serve_length, weight, config.base, depth=args.depth, trained={
        "seed": args.seed, "epochs": args.epochs, "lr": args.lr, "train_max_length": args.max_length,
        "train_questions": counts,
        "dev_questions": len(dev_set), "held_out_documents": sorted(HELD_OUT),
        "train_seconds": round(train_seconds), "threads": _threads(),
        "dev_blend": {str(w): {k: round(v, 3) for k, v in m.items()} for w, m in table.items()}})
    save(model, config, out)
    print(json.dumps(config.to_dict(), indent=2))
    return 0


def _reweigh(folder: Path, dev_set: list[Example], by_source: dict) -> int:
    """Choose the blend weight of the stored model again and rewrite its config only."""
    reranker = Reranker(folder)
    weight, table = choose_weight(dev_set, by_source, reranker)
    old = reranker.config
    trained = dict(old.trained or {})
    trained["dev_blend"] = {str(w): {k: round(v, 3) for k, v in m.items()} for w, m in table.items()}
    config = RerankerConfig(old.layers, old.max_length, weight, old.base, trained, old.depth)
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    print(json.dumps(config.to_dict(), indent=2))
    return 0


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    sys.exit(main())
