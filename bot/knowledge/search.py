"""Hybrid search over the live index version, with an evidence gate.

Each query is scored by every dense embedder the index was built with (FAISS inner
product = cosine) and by BM25 over Devanagari-aware tokens; the rankings are fused
with weighted reciprocal rank fusion. The gate then decides whether the material
answers the question at all, from the best cosine similarities (see :class:`Gate`).

A :class:`Retriever` follows the index folder's ``CURRENT`` pointer: when an ingest
publishes a new version it loads it beside the old one and swaps one reference, so
searches in flight finish on the version they started with and none fails.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bot.knowledge.chunking import Chunk
from bot.knowledge.embedders import Embedder, make_embedder
from bot.knowledge.index import IndexError_, current_version_dir, read_chunks, read_meta, _safe
from bot.knowledge.text import tokenize

log = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 50
_DEVANAGARI = range(0x0900, 0x0980)


@dataclass(frozen=True)
class Gate:
    """Evidence gate: answer only when some embedder finds a close enough passage.

    Thresholds are per embedder on the top cosine similarity, calibrated on the
    labelled in-scope and out-of-scope questions in ``tests/data/kb_questions.yml``
    (``make calibrate`` prints the sweep). English MiniLM similarities are not
    meaningful for Devanagari queries, so for those only multilingual embedders vote.
    """

    thresholds: dict[str, float] = field(default_factory=lambda: {"minilm": 0.40, "e5": 0.855})
    default: float = 0.5

    def threshold(self, embedder: str) -> float:
        return self.thresholds.get(embedder, self.default)

    def answerable(self, top_scores: dict[str, float], query: str) -> bool:
        devanagari = _is_devanagari(query)
        for name, score in top_scores.items():
            if devanagari and name == "minilm":
                continue
            if score >= self.threshold(name):
                return True
        return False

    @classmethod
    def from_env(cls) -> Gate:
        """Thresholds overridable as ``TUTOR_GATE=minilm:0.40,e5:0.855``."""
        spec = os.environ.get("TUTOR_GATE", "")
        base = cls()
        if not spec:
            return base
        values = dict(base.thresholds)
        for part in spec.split(","):
            name, _, value = part.partition(":")
            if name.strip() and value.strip():
                values[name.strip()] = float(value)
        return cls(thresholds=values)


@dataclass
class Hit:
    """One retrieved chunk with its fused score and the evidence behind it."""

    chunk: Chunk
    score: float
    dense: dict[str, float] = field(default_factory=dict)
    lexical: float = 0.0
    row: int = -1

    def to_contract(self) -> dict:
        """The ``kb search --json`` hit object (see DESIGN.md)."""
        return {"text": self.chunk.text, "source": self.chunk.source,
                "anchor": self.chunk.citation, "score": round(float(self.score), 6)}


@dataclass
class SearchResult:
    query: str
    answerable: bool
    hits: list[Hit]
    top_scores: dict[str, float] = field(default_factory=dict)
    version: str = ""
    query_vectors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_contract(self) -> dict:
        return {"query": self.query, "answerable": self.answerable,
                "hits": [h.to_contract() for h in self.hits]}


class LoadedIndex:
    """One immutable index version in memory."""

    def __init__(self, version_dir: Path):
        import bm25s
        import faiss

        self.dir = version_dir
        self.meta = read_meta(version_dir)
        self.version: str = self.meta["version"]
        self.chunks: list[Chunk] = read_chunks(version_dir)
        self.embedder_names: list[str] = list(self.meta["embedders"])
        self.faiss = {n: faiss.read_index(str(version_dir / f"faiss-{_safe(n)}.index")) for n in self.embedder_names}
        if len(self.chunks):
            self.bm25 = bm25s.BM25.load(str(version_dir / "bm25"))
            self.vocab = set(self.bm25.vocab_dict)
        else:
            self.bm25, self.vocab = None, set()
        self.row_by_id = {c.id: i for i, c in enumerate(self.chunks)}

    def neighbours(self, row: int) -> tuple[Chunk | None, Chunk | None]:
        """The chunks just before and after ``row`` in the same document."""
        chunk = self.chunks[row]
        before = self.chunks[row - 1] if row > 0 and self.chunks[row - 1].source == chunk.source else None
        after = (self.chunks[row + 1] if row + 1 < len(self.chunks)
                 and self.chunks[row + 1].source == chunk.source else None)
        return before, after


class Retriever:
    """Searches the live index version; reloads when a new version is published.

    Args:
        index_dir: the index folder (``CURRENT`` + ``versions/``).
        embedders: embedders by name; by default built from the names the index records.
        gate: the evidence gate; by default :meth:`Gate.from_env`.
        check_interval: seconds between checks of ``CURRENT`` (0 checks every search).
    """

    def __init__(self, index_dir: Path, embedders: dict[str, Embedder] | None = None,
                 gate: Gate | None = None, check_interval: float = 1.0):
        self.index_dir = Path(index_dir)
        self._embedders = dict(embedders or {})
        self.gate = gate or Gate.from_env()
        self._check_interval = check_interval
        self._loaded: LoadedIndex | None = None
        self._checked_at = 0.0
        self._reload_lock = threading.Lock()

    @property
    def index(self) -> LoadedIndex:
        """The live index, loading or reloading it when ``CURRENT`` moved.

        Raises:
            IndexError_: no index has been built yet.
        """
        loaded = self._loaded
        now = time.monotonic()
        if loaded is not None and now - self._checked_at < self._check_interval:
            return loaded
        self._checked_at = now
        live = current_version_dir(self.index_dir)
        if live is None:
            if loaded is not None:
                return loaded
            raise IndexError_(f"no index in {self.index_dir}: run `kb ingest` first")
        if loaded is not None and live.name == loaded.version:
            return loaded
        with self._reload_lock:
            if self._loaded is not None and self._loaded.version == live.name:
                return self._loaded
            try:
                fresh = LoadedIndex(live)
            except Exception as exc:  # keep serving the version we have
                if self._loaded is None:
                    raise IndexError_(f"cannot load index {live.name}: {exc}") from exc
                log.error("index %s failed to load (%s); still serving %s", live.name, exc,
                          self._loaded.version)
                return self._loaded
            if self._loaded is not None:
                log.info("index reloaded: %s -> %s", self._loaded.version, fresh.version)
            self._loaded = fresh  # one reference swap: in-flight searches keep the old one
            return fresh

    def embedder(self, name: str) -> Embedder:
        if name not in self._embedders:
            self._embedders[name] = make_embedder(name)
        return self._embedders[name]

    def search(self, query: str, k: int = 5, role: str | None = None,
               sources: Sequence[str] | None = None) -> SearchResult:
        """Hybrid search with the evidence gate.

        Args:
            query: the learner's question.
            k: hits to return.
            role: the learner's role id; chunks tagged for it get a small boost.
            sources: restrict to these documents (e.g. "quiz me on this").

        Returns:
            A :class:`SearchResult` (``answerable`` False when the gate declines).
        """
        index = self.index
        query = query.strip()
        if not query or not index.chunks:
            return SearchResult(query, False, [], version=index.version)
        allowed = self._allowed_rows(index, sources)
        fused: dict[int, float] = {}
        dense: dict[int, dict[str, float]] = {}
        top_scores: dict[str, float] = {}
        vectors: dict[str, np.ndarray] = {}
        for name in index.embedder_names:
            vector = self.embedder(name).embed_queries([query])
            vectors[name] = vector[0]
            n = min(len(index.chunks), CANDIDATES if allowed is None else len(index.chunks))
            scores, rows = index.faiss[name].search(vector, n)
            rank = 0
            weight = 0.5 if name == "minilm" and _is_devanagari(query) else 1.0
            for score, row in zip(scores[0], rows[0]):
                if row < 0 or (allowed is not None and row not in allowed):
                    continue
                if rank == 0:
                    top_scores[name] = float(score)
                dense.setdefault(int(row), {})[name] = float(score)
                fused[int(row)] = fused.get(int(row), 0.0) + weight / (RRF_K + rank)
                rank += 1
        lexical = self._bm25(index, query, allowed)
        for rank, (row, score) in enumerate(lexical):
            fused[row] = fused.get(row, 0.0) + 0.6 / (RRF_K + rank)
        lexical_by_row = dict(lexical)
        if role:
            for row in fused:
                if role in (index.chunks[row].meta.get("roles") or []):
                    fused[row] *= 1.15
        ranked = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        hits = [Hit(index.chunks[row], score, dense.get(row, {}), lexical_by_row.get(row, 0.0), row)
                for row, score in ranked]
        answerable = bool(hits) and self.gate.answerable(top_scores, query)
        return SearchResult(query, answerable, hits, top_scores, index.version, vectors)

    @staticmethod
    def _allowed_rows(index: LoadedIndex, sources: Sequence[str] | None) -> set[int] | None:
        if not sources:
            return None
        wanted = set(sources)
        return {i for i, c in enumerate(index.chunks) if c.source in wanted}

    @staticmethod
    def _bm25(index: LoadedIndex, query: str, allowed: set[int] | None) -> list[tuple[int, float]]:
        tokens = [t for t in tokenize(query) if t in index.vocab]
        if not tokens or index.bm25 is None:
            return []
        scores = index.bm25.get_scores(tokens)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[list(allowed)] = True
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[:CANDIDATES]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]


def _is_devanagari(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(ord(c) in _DEVANAGARI for c in letters) / len(letters) > 0.3


def result_json(result: SearchResult) -> str:
    return json.dumps(result.to_contract(), ensure_ascii=False)


__all__ = ["Gate", "Hit", "LoadedIndex", "Retriever", "SearchResult"]
