"""Running the pipelines over the evaluation sets.

Indexes are built with the project's :func:`~bot.knowledge.index.update_index`
under ``.state/eval/<index>/`` (incremental, so a warm run embeds nothing), and query
vectors are cached on disk per embedder, so that the hybrid pipeline and the
single-embedder baselines see exactly the same vectors and a rerun costs seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bot.evaluation.metrics import hit_at, mrr_at, ndcg_at, summarise
from bot.evaluation.sets import INDEXES, EvalSet
from bot.evaluation.transliteration import to_devanagari
from bot.knowledge.embedders import Embedder, make_embedder
from bot.knowledge.index import update_index
from bot.knowledge.reranker import Reranker
from bot.knowledge.search import LoadedIndex, Retriever
from bot.knowledge.text import tokenize

log = logging.getLogger(__name__)

EMBEDDERS = ("minilm", "e5")
DEPTH = 10  # metrics are cut at 10
SOURCE_DEPTH = 40  # chunks fetched before de-duplicating by document


class CachedEmbedder(Embedder):
    """Memoises query vectors (in memory and on disk) around a real embedder.

    Args:
        inner: the real embedder.
        cache_file: ``.npz`` file holding earlier query vectors.
    """

    def __init__(self, inner: Embedder, cache_file: Path):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.version = inner.version
        self.cache_file = cache_file
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if cache_file.exists():
            with np.load(cache_file) as data:
                keys = json.loads(str(data["keys"]))
                self._vectors = dict(zip(keys, data["vectors"], strict=False))

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def warm(self, texts: Sequence[str], batch: int = 64) -> None:
        """Embed, in batches, the queries not cached yet."""
        missing = sorted({t for t in texts if self._key(t) not in self._vectors})
        for start in range(0, len(missing), batch):
            part = missing[start:start + batch]
            for text, vector in zip(part, self.inner.embed_queries(part), strict=False):
                self._vectors[self._key(text)] = vector
            self._dirty = True

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, from the cache (embedding the missing ones first)."""
        self.warm(texts)
        return np.stack([self._vectors[self._key(t)] for t in texts]).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors from the wrapped embedder (passages are not cached here)."""
        return self.inner.embed_passages(texts)

    def save(self) -> None:
        """Write the query cache when it changed (to a temporary file, then renamed)."""
        if not self._dirty:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        tmp = self.cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=json.dumps(keys), vectors=np.stack([self._vectors[k] for k in keys]))
        tmp.replace(self.cache_file)
        self._dirty = False


@dataclass
class Workspace:
    """Shared state of one evaluation run: embedders, built indexes, retrievers."""

    state: Path
    embedders: dict[str, CachedEmbedder]

    @classmethod
    def create(cls, state: Path, names: Sequence[str] = EMBEDDERS) -> Workspace:
        """A workspace under ``state`` with cached embedders for ``names``."""
        state.mkdir(parents=True, exist_ok=True)
        embedders = {}
        for name in names:
            inner = make_embedder(name)
            suffix = f"-{inner.version}" if inner.version and inner.version != "base" else ""
            embedders[name] = CachedEmbedder(inner, state / "query-cache" / f"{name}{suffix}.npz")
        return cls(state, embedders)

    def retriever(self, index_name: str, progress: bool = True,
                  reranker: Reranker | None | Literal["default"] = "default") -> Retriever:
        """Build (or bring up to date) an evaluation index and return a retriever over it.

        ``reranker`` is passed to :class:`Retriever` (None: the hybrid ranking alone).
        """
        spec = INDEXES[index_name]
        folder = spec.folder(self.state)
        index_dir = self.state / index_name

        def report(stage: str, done: int, total: int) -> None:
            if progress and (done == total or done % 256 == 0):
                print(f"  [{index_name}] {stage}: {done}/{total}", file=sys.stderr, flush=True)

        started = time.perf_counter()
        result = update_index(folder, index_dir, [e.inner for e in self.embedders.values()], progress=report)
        if result.touched:
            print(f"  [{index_name}] indexed {result.chunks} chunks ({result.embedded} embedded) in "
                  f"{time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
        return Retriever(index_dir, embedders=dict(self.embedders), check_interval=3600,
                         reranker=reranker)

    def save(self) -> None:
        """Save every embedder's query cache."""
        for embedder in self.embedders.values():
            embedder.save()


# ---------------------------------------------------------------- pipelines
Ranker = Callable[[Retriever, str, int], list[int]]


def rank_hybrid(retriever: Retriever, query: str, depth: int) -> list[int]:
    """The project's pipeline, exactly as the tutor runs it."""
    return [hit.row for hit in retriever.search(query, k=depth).hits]


def rank_fusion(retriever: Retriever, query: str, depth: int) -> list[int]:
    """The pipeline without the cross-encoder: today's hybrid fusion alone."""
    return [hit.row for hit in retriever.search(query, k=depth, rerank=False).hits]


def rank_bm25(retriever: Retriever, query: str, depth: int) -> list[int]:
    """BM25 alone over the same chunks and tokenisation (the query as typed)."""
    index = retriever.index
    tokens = [t for t in tokenize(query) if t in index.lexical]
    if not tokens:
        return []
    scores = index.lexical.get_scores(tokens)
    top = np.argsort(-scores, kind="stable")[:depth]
    return [int(r) for r in top if scores[r] > 0]


def dense_ranker(name: str) -> Ranker:
    """Flat inner-product search with one embedder (the query as typed)."""
    def rank(retriever: Retriever, query: str, depth: int) -> list[int]:
        index: LoadedIndex = retriever.index
        vector = retriever.embedder(name).embed_queries([query])
        _, rows = index.faiss[name].search(vector, min(depth, len(index.chunks)))
        return [int(r) for r in rows[0] if r >= 0]
    return rank


def in_devanagari(ranker: Ranker) -> Ranker:
    """``ranker`` on the question written in Devanagari first (romanised Hindi questions)."""
    def rank(retriever: Retriever, query: str, depth: int) -> list[int]:
        return ranker(retriever, to_devanagari(query), depth)
    return rank


PIPELINES: dict[str, Ranker] = {
    "hybrid": rank_hybrid,
    "fusion": rank_fusion,
    "bm25": rank_bm25,
    "minilm": dense_ranker("minilm"),
    "e5": dense_ranker("e5"),
    # Measured on romanised Hindi only (bot/evaluation/transliteration.py): not the tutor's path.
    "hybrid-native": in_devanagari(rank_hybrid),
    "e5-native": in_devanagari(dense_ranker("e5")),
}


def gains_for(eval_set: EvalSet, query, rows: list[int], index: LoadedIndex) -> list[float]:
    """Relevance gains of a ranking, de-duplicated by document for ``source`` sets."""
    gains: list[float] = []
    seen: set[str] = set()
    for row in rows:
        chunk = index.chunks[row]
        if eval_set.unit == "source":
            if chunk.source in seen:
                continue
            seen.add(chunk.source)
        gains.append(query.judge(chunk))
        if len(gains) >= DEPTH:
            break
    return gains


def evaluate_set(eval_set: EvalSet, retriever: Retriever, pipelines: Sequence[str]) -> dict:
    """Metrics of each pipeline on one set.

    Returns:
        ``{"set", "queries", "note", "pipelines": {name: {metric: value}}, "per_query": {...}}``.
    """
    depth = SOURCE_DEPTH if eval_set.unit == "source" else DEPTH
    index = retriever.index
    for embedder in retriever._embedders.values():
        if isinstance(embedder, CachedEmbedder):
            embedder.warm([q.text for q in eval_set.queries])
    out: dict = {"set": eval_set.name, "queries": len(eval_set.queries), "note": eval_set.note,
                 "english": eval_set.english, "graded": eval_set.graded, "pipelines": {}}
    for name in pipelines:
        if name.endswith("-native") and not eval_set.name.endswith("hinglish"):
            continue  # the transliteration question is about romanised Hindi only
        embedder_name = name.removesuffix("-native")
        if name not in PIPELINES or (embedder_name in EMBEDDERS and embedder_name not in index.embedder_names):
            continue
        rows = []
        started = time.perf_counter()
        for query in eval_set.queries:
            gains = gains_for(eval_set, query, PIPELINES[name](retriever, query.text, depth), index)
            metrics = {"hit@1": hit_at(gains, 1), "hit@5": hit_at(gains, 5), "hit@10": hit_at(gains, 10),
                       "mrr@10": mrr_at(gains, 10)}
            if eval_set.graded:
                metrics["ndcg@10"] = ndcg_at(gains, query.ideal, 10)
            rows.append(metrics)
        result = summarise(rows)
        result["ms_per_query"] = 1000 * (time.perf_counter() - started) / max(1, len(rows))
        out["pipelines"][name] = result
    return out
