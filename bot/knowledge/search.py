"""Hybrid search over the live index version, with an evidence gate.

A query is first expanded with the knowledge folder's acronym glossary
(``glossary.yml``: "CL" is searched as "CL (casual leave)"). It is then scored by
every dense embedder the index was built with (FAISS inner product = cosine) and by
BM25 over Devanagari-aware tokens; the union of their top candidates is re-scored
exactly and fused by a weighted sum of per-query standardised scores (:func:`fuse`;
measured against reciprocal-rank fusion and the single retrievers with ``make eval``).
The evidence gate (:mod:`bot.knowledge.gate`) then decides whether the material answers
the question at all; when it declines but the question was close to answerable, the
result still names the closest section.

A :class:`Retriever` follows the index folder's ``CURRENT`` pointer: when an ingest
publishes a new version it loads it beside the old one and swaps one reference, so
searches in flight finish on the version they started with and none fails.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bot.knowledge.chunking import Chunk
from bot.knowledge.embedders import Embedder, make_embedder
from bot.knowledge.english_terms import with_english_terms
from bot.knowledge.gate import Gate, GateVerdict, gate_features
from bot.knowledge.index import (
    KnowledgeIndexError,
    SentenceVectors,
    current_version_dir,
    file_safe_name,
    read_chunks,
    read_meta,
)
from bot.knowledge.lexical import LexicalIndex
from bot.knowledge.reranker import Reranker, blend
from bot.knowledge.text import cached_glossary, tokenize
from bot.language import is_indic_script, script_language

log = logging.getLogger(__name__)

GLOSSARY_NAME = "glossary.yml"
CANDIDATES = 50
#: Fusion weights on per-query standardised scores (see :func:`fuse`), chosen with
#: ``make eval`` across all eleven sets (our modules and the shared ones). MiniLM went
#: from 0.7 to 1.0 with its fine-tuned query side, chosen on the written dev questions
#: and the ``kb`` dev split (MRR@10 0.777 -> 0.796; the grid's best was within 0.001).
#: BM25 counts less for questions in an Indian script (``bm25_indic``): the material is
#: mostly English, so their words rarely match and BM25's ranking is mostly noise. When a Devanagari question's
#: administrative words have English terms (:mod:`bot.knowledge.english_terms`), MiniLM
#: and BM25 read those and count with the ``_translated`` weights (chosen on the 60
#: Hindi dev questions of ``reranker_data/dev_questions_hi.jsonl``: MRR@10 0.583 without
#: the terms, 0.686 with them).
FUSION_WEIGHTS = {"minilm": 1.0, "e5": 1.6, "bm25": 0.8, "bm25_indic": 0.3,
                  "minilm_translated": 0.8, "bm25_translated": 0.5}
ROLE_BOOST = 0.15
#: A question in an Indian script prefers passages written in that script's language
#: (Hindi for Devanagari): the English terms added to a Hindi question
#: (:mod:`bot.knowledge.english_terms`) would otherwise pull the English twin of a Hindi
#: module above it, and a learner who asks in Hindi should read Hindi where it exists.
OWN_LANGUAGE_BOOST = 0.5


@dataclass
class Hit:
    """One retrieved chunk with its fused score and the evidence behind it."""

    chunk: Chunk
    score: float
    dense: dict[str, float] = field(default_factory=dict)
    lexical: float = 0.0
    row: int = -1
    #: The cross-encoder's logit, when the reranker read this candidate.
    rerank: float | None = None

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
    features: dict[str, float] = field(default_factory=dict, repr=False)  # what the gate saw
    #: Declined, but the first hit is the closest section worth naming (see :class:`GateVerdict`).
    closest: bool = False

    def to_contract(self) -> dict:
        """The ``kb search --json`` object (see DESIGN.md)."""
        return {"query": self.query, "answerable": self.answerable,
                "hits": [h.to_contract() for h in self.hits]}


class LoadedIndex:
    """One immutable index version in memory."""

    def __init__(self, version_dir: Path):
        import faiss

        self.dir = version_dir
        self.meta = read_meta(version_dir)
        self.version: str = self.meta["version"]
        self.chunks: list[Chunk] = read_chunks(version_dir)
        self.embedder_names: list[str] = list(self.meta["embedders"])
        self.faiss = {n: faiss.read_index(str(version_dir / f"faiss-{file_safe_name(n)}.index")) for n in self.embedder_names}
        #: Each embedder's chunk vectors, row ``r`` for chunk ``r``: the exact cosines of the fused
        #: candidates are read from here.
        self.vectors = {n: stored_vectors(self.faiss[n], version_dir / f"vectors-{file_safe_name(n)}.npy")
                        for n in self.embedder_names}
        #: BM25 over the same chunks; ``term in index.lexical`` asks whether the material uses a word.
        self.lexical = LexicalIndex.load(version_dir / "lexical").for_search()
        self.row_by_id = {c.id: i for i, c in enumerate(self.chunks)}
        #: Sentence vectors of long passages for replies; None for an index built before them.
        self.sentences: SentenceVectors | None = SentenceVectors.load(version_dir, self.meta)
        kb_dir = self.meta.get("kb_dir")
        self.glossary_path: Path | None = Path(kb_dir) / GLOSSARY_NAME if kb_dir else None

    def expand(self, query: str) -> str:
        """The query with acronyms from the knowledge folder's glossary spelled out."""
        return cached_glossary(self.glossary_path).expand(query) if self.glossary_path else query

    def neighbours(self, row: int) -> tuple[Chunk | None, Chunk | None]:
        """The chunks just before and after ``row`` in the same document."""
        chunk = self.chunks[row]
        before = self.chunks[row - 1] if row > 0 and self.chunks[row - 1].source == chunk.source else None
        after = (self.chunks[row + 1] if row + 1 < len(self.chunks)
                 and self.chunks[row + 1].source == chunk.source else None)
        return before, after


def stored_vectors(index, path: Path) -> np.ndarray:
    """The chunk vectors of a version, without a second copy in memory.

    A flat FAISS index holds every vector as it was added (float32, in row order), so a
    read-only view of its storage is the same matrix as ``vectors-<name>.npy``. Memory-mapping
    the ``.npy`` instead looked free, but the candidates' rows are scattered and the kernel
    reads ahead around each, so after some searches most of the file is resident a second
    time (about 200 MiB at 100k chunks and two embedders; ``make bench``).

    Args:
        index: the version's FAISS index for one embedder.
        path: its ``vectors-<name>.npy``, memory-mapped when ``index`` is not a flat index.

    Returns:
        An ``(ntotal, dim)`` float32 array, read-only, valid while ``index`` is alive.
    """
    get_xb = getattr(index, "get_xb", None)
    if get_xb is None:  # not a flat index: its storage is not the plain matrix
        return np.load(path, mmap_mode="r")
    import faiss

    view = faiss.rev_swig_ptr(get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


class Retriever:
    """Searches the live index version; reloads when a new version is published.

    Args:
        index_dir: the index folder (``CURRENT`` + ``versions/``).
        embedders: embedders by name; by default built from the names the index records.
        gate: the evidence gate; by default :meth:`Gate.from_env`.
        check_interval: seconds between checks of ``CURRENT`` (0 checks every search).
        reranker: the cross-encoder that reorders the top candidates; by default the
            shipped one (:meth:`Reranker.load_default`), None for the hybrid ranking alone.
    """

    def __init__(self, index_dir: Path, embedders: dict[str, Embedder] | None = None,
                 gate: Gate | None = None, check_interval: float = 1.0,
                 reranker: Reranker | None | Literal["default"] = "default"):
        self.index_dir = Path(index_dir)
        self._embedders = dict(embedders or {})
        self.reranker: Reranker | None = Reranker.load_default() if isinstance(reranker, str) else reranker
        self.gate = gate or Gate.from_env()
        self._check_interval = check_interval
        self._loaded: LoadedIndex | None = None
        self._checked_at = 0.0
        self._reload_lock = threading.Lock()
        # The embedders and FAISS run native code without the GIL, so the second
        # embedder's query embedding + search overlaps the first's and BM25: the
        # two-model pipeline costs ~1.3x one model, not 2x (make bench; sequential
        # was also measured slower with the libraries' default thread pools).
        # Threads start on first use.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dense")

    @property
    def index(self) -> LoadedIndex:
        """The live index, loading or reloading it when ``CURRENT`` moved.

        Raises:
            KnowledgeIndexError: no index has been built yet.
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
            raise KnowledgeIndexError(f"no index in {self.index_dir}: run `kb ingest` first")
        if loaded is not None and live.name == loaded.version:
            return loaded
        with self._reload_lock:
            if self._loaded is not None and self._loaded.version == live.name:
                return self._loaded
            try:
                fresh = LoadedIndex(live)
            except Exception as exc:  # keep serving the version we have
                if self._loaded is None:
                    raise KnowledgeIndexError(f"cannot load index {live.name}: {exc}") from exc
                log.error("index %s failed to load (%s); still serving %s", live.name, exc,
                          self._loaded.version)
                return self._loaded
            if self._loaded is not None:
                log.info("index reloaded: %s -> %s", self._loaded.version, fresh.version)
            self._loaded = fresh  # one reference swap: in-flight searches keep the old one
            return fresh

    def embedder(self, name: str) -> Embedder:
        """The embedder called ``name``, built on first use."""
        if name not in self._embedders:  # setdefault: two threads keep one instance
            self._embedders.setdefault(name, make_embedder(name))
        return self._embedders[name]

    def search(self, query: str, k: int = 5, role: str | None = None,
               sources: Sequence[str] | None = None, rerank: bool = True) -> SearchResult:
        """Hybrid search with the evidence gate.

        Args:
            query: the learner's question.
            k: hits to return.
            role: the learner's role id; chunks tagged for it (``roles``) get a small boost,
                and passages of documents that bind only other roles (``applies_to``) are dropped.
            sources: restrict to these documents (e.g. "quiz me on this").
            rerank: let the cross-encoder reorder the top candidates (when there is one).

        Returns:
            A :class:`SearchResult` (``answerable`` False when the gate declines).
        """
        index = self.index
        query = query.strip()
        if not query or not index.chunks:
            return SearchResult(query, False, [], version=index.version)
        text = index.expand(query)  # acronyms spelled out from the glossary
        text, translated = with_english_terms(text)  # English terms of words in Indian languages
        indic = is_indic_script(query)
        allowed = self._allowed_rows(index, sources)
        n = len(index.chunks) if allowed is not None else min(len(index.chunks), CANDIDATES)
        names = index.embedder_names
        others = [self._pool.submit(self._dense, index, name, text, n, allowed) for name in names[1:]]
        dense_hits = [self._dense(index, names[0], text, n, allowed)]
        lexical = self._bm25(index, text, allowed)
        dense_hits += [future.result() for future in others]
        candidates: dict[int, None] = {}
        top_scores: dict[str, float] = {}
        vectors: dict[str, np.ndarray] = {}
        for name, (vector, kept) in zip(names, dense_hits, strict=True):
            vectors[name] = vector
            candidates.update((r, None) for r in kept)
        candidates.update((row, None) for row, _ in lexical)
        rows = np.fromiter(candidates, dtype=np.int64)
        dense = {name: index.vectors[name][rows] @ vectors[name] for name in index.embedder_names}
        for name, scores in dense.items():
            top_scores[name] = float(scores.max()) if len(scores) else 0.0
        lexical_by_row = dict(lexical)
        bm25 = np.array([lexical_by_row.get(int(r), 0.0) for r in rows])
        fused = fuse(dense, bm25, indic, translated=translated)
        if role:
            tagged = np.array([role in (index.chunks[r].meta.get("roles") or []) for r in rows])
            fused = fused + ROLE_BOOST * tagged
        if indic:
            language = script_language(query)
            own = np.array([index.chunks[r].meta.get("language") == language for r in rows])
            fused = fused + OWN_LANGUAGE_BOOST * own
        order = np.argsort(-fused, kind="stable")
        if role:
            order = _for_role(order, [index.chunks[r].meta.get("applies_to") for r in rows], role)
        logits: dict[int, float] = {}
        if rerank and self.reranker is not None and not indic and len(order) > 1:
            depth = self.reranker.config.depth
            head = order[:depth]
            scores = self.reranker.score(query, [index.chunks[rows[i]].embed_text for i in head])
            logits = dict(zip(head.tolist(), scores.tolist(), strict=True))
            final = blend(fused[head], scores, self.reranker.config.weight)
            fused = fused.copy()
            fused[head] = final
            order = np.concatenate([head[np.argsort(-final, kind="stable")], order[depth:]])
        hits = [Hit(index.chunks[rows[i]], float(fused[i]), {n: float(dense[n][i]) for n in dense},
                    lexical_by_row.get(int(rows[i]), 0.0), int(rows[i]), logits.get(int(i)))
                for i in order[:k]]
        best_passage = hits[0].chunk.embed_text if hits else ""
        features = gate_features(index.lexical, text, top_scores, lexical, best_passage) | self.gate.example_features(vectors)
        if logits:
            features["rerank_top"] = max(logits.values())
        verdict = self.gate.assess(features, top_scores, query) if hits else GateVerdict(False)
        return SearchResult(query, verdict.answer, hits, top_scores, index.version, vectors, features,
                            closest=verdict.closest)

    def _dense(self, index: LoadedIndex, name: str, text: str, n: int,
               allowed: set[int] | None) -> tuple[np.ndarray, list[int]]:
        """One embedder's query vector and its top candidate rows (within ``allowed``)."""
        vector = self.embedder(name).embed_queries([text])
        _, rows = index.faiss[name].search(vector, n)
        kept = [int(r) for r in rows[0] if r >= 0 and (allowed is None or r in allowed)]
        return vector[0], kept[:CANDIDATES]

    @staticmethod
    def _allowed_rows(index: LoadedIndex, sources: Sequence[str] | None) -> set[int] | None:
        if not sources:
            return None
        wanted = set(sources)
        return {i for i, c in enumerate(index.chunks) if c.source in wanted}

    @staticmethod
    def _bm25(index: LoadedIndex, query: str, allowed: set[int] | None) -> list[tuple[int, float]]:
        tokens = [t for t in tokenize(query) if t in index.lexical]
        if not tokens:
            return []
        scores = index.lexical.get_scores(tokens)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[list(allowed)] = True
            scores = np.where(mask, scores, 0.0)
        n = min(CANDIDATES, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]  # O(N): a full sort costs ms at 100k chunks
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]


def _for_role(order: np.ndarray, applies_to: Sequence[object], role: str) -> np.ndarray:
    """``order`` without the candidates whose rules bind only other roles than ``role``.

    Where two documents disagree because each binds different officers (front matter
    ``applies_to: [role ids]``), a learner whose role is known reads the one that binds
    them: the other document's passages are dropped, not merely ranked lower. Documents
    without ``applies_to`` bind everyone. If every candidate binds only other roles, the
    order is kept (the gate and the citation still say where the answer comes from).

    Args:
        order: candidate positions, best first.
        applies_to: each candidate's ``applies_to`` (None or a list of role ids), by position.
        role: the learner's role id.

    Returns:
        The filtered order.
    """
    kept = np.array([i for i in order
                     if not (isinstance(applies_to[i], list) and applies_to[i] and role not in applies_to[i])],
                    dtype=order.dtype)
    return kept if len(kept) else order


def fuse(dense: dict[str, np.ndarray], bm25: np.ndarray, indic: bool = False,
         weights: dict[str, float] | None = None, translated: bool = False) -> np.ndarray:
    """Fuse the scores of the candidate pool into one ranking score.

    Every signal (each embedder's cosine, BM25) is standardised over the pool, so each
    contributes on the same scale whatever its range; the weighted sum keeps score
    magnitudes, which reciprocal-rank fusion throws away (measured on the evaluation
    sets: better hit@5 and MRR@10 than RRF, and than BM25 divided by its best score,
    which under-weighted BM25 on the FAQ sets). MiniLM is English-only: for queries in an
    Indian script it does not vote, and BM25 gets ``bm25_indic``.

    Args:
        dense: embedder name -> cosine of each candidate.
        bm25: BM25 score of each candidate (0 when absent).
        indic: the query is in an Indian script (Devanagari, Bengali, Tamil, ...).
        weights: per-signal weights (default :data:`FUSION_WEIGHTS`).
        translated: English terms were added to a Devanagari query (MiniLM and BM25
            then count with ``minilm_translated`` / ``bm25_translated``).

    Returns:
        The fused score of each candidate.
    """
    weights = weights or FUSION_WEIGHTS
    total = np.zeros(len(bm25))
    for name, scores in dense.items():
        weight = weights.get(name, 1.0)
        if indic and name == "minilm":
            weight = weights.get("minilm_translated", 0.0) if translated else 0.0
        if weight and len(scores) > 1:
            total += weight * (scores - scores.mean()) / (scores.std() + 1e-6)
    if len(bm25) > 1 and bm25.max() > 0:
        if indic:
            key = "bm25_translated" if translated else "bm25_indic"
            weight = weights.get(key, 0.3)
        else:
            weight = weights.get("bm25", 1.0)
        total += weight * (bm25 - bm25.mean()) / (bm25.std() + 1e-6)
    return total


def result_json(result: SearchResult) -> str:
    """One ``kb search --json`` output line for ``result``."""
    return json.dumps(result.to_contract(), ensure_ascii=False)


__all__ = ["Hit", "LoadedIndex", "Retriever", "SearchResult", "fuse", "result_json", "stored_vectors"]
