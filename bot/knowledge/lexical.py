"""An incrementally updatable BM25 index (Lucene scoring, the bm25s default).

Libraries such as bm25s precompute each posting's final score at indexing time. Those
scores depend on corpus-wide statistics (document frequency, average length), so one
edited file changes every score and the whole index must be rebuilt, a cost that grows
with the size of the knowledge base. Here only **term frequencies** are stored, one row
per chunk, and the corpus statistics are applied when the index is loaded, as Lucene
does. An update copies the rows of unchanged chunks as they are (a sparse-row gather)
and tokenises only new text.

Files in a version's ``lexical/`` folder::

    vocab.json     the terms; a term's id is its position (append-only between rebuilds)
    indptr.npy     CSR row pointers, one row per chunk in index order
    terms.npy      term id of each posting
    counts.npy     term frequency of each posting

Scores equal bm25s's ``method="lucene"`` (k1 = 1.5, b = 0.75); a unit test holds them
to it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

K1 = 1.5
B = 0.75
#: The token an empty chunk is indexed with, so that every row has a length.
EMPTY = "∅"


class LexicalIndex:
    """Term frequencies per chunk plus the statistics BM25 needs, ready to score.

    Args:
        vocab: terms by id.
        indptr: CSR row pointers (``len(rows) + 1``).
        terms: term id of each posting.
        counts: term frequency of each posting.
    """

    def __init__(self, vocab: list[str], indptr: np.ndarray, terms: np.ndarray, counts: np.ndarray):
        from scipy import sparse  # lazy: only readers and writers of an index need it

        self.vocab_list = vocab
        self.term_id = {term: i for i, term in enumerate(vocab)}
        self._rows = sparse.csr_matrix((counts.astype(np.float32), terms, indptr),
                                       shape=(len(indptr) - 1, len(vocab)))
        self._columns = None  # the by-term (CSC) view, built on the first search
        self.doc_freq = np.bincount(terms, minlength=len(vocab)) if len(vocab) else np.zeros(0, np.int64)
        self.size = len(indptr) - 1

    @property
    def rows(self):
        """The by-chunk (CSR) term frequencies, one row per chunk.

        Raises:
            RuntimeError: dropped by :meth:`for_search`.
        """
        if self._rows is None:
            raise RuntimeError("this lexical index was loaded for searching only: its by-chunk rows were dropped")
        return self._rows

    def for_search(self) -> LexicalIndex:
        """This index, ready to score, holding only what scoring reads (about half the memory).

        Scoring reads the by-term (CSC) view and the corpus statistics, which are built
        now rather than in the first learner's query. The by-chunk rows are a second copy
        of every posting, needed only to save this index or to build the next version from
        it (an update loads its own copy), so they are dropped.

        Returns:
            ``self``; :attr:`rows`, :meth:`save` and :meth:`build` from it are no longer available.
        """
        self._statistics()
        self._rows = None
        return self

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, rows: Sequence[int | list[str]], previous: LexicalIndex | None = None) -> LexicalIndex:
        """A new index whose row ``i`` is ``rows[i]``.

        Args:
            rows: per chunk, either the chunk's tokens or the number of an identical row
                in ``previous`` to copy (its text did not change).
            previous: the index the copied rows come from.

        Returns:
            The new index. Terms no longer used are dropped once they outnumber live ones.
        """
        from scipy import sparse

        vocab = list(previous.vocab_list) if previous else []
        term_id = dict(previous.term_id) if previous else {}
        fresh_ptr, fresh_terms, fresh_counts = [0], [], []
        order = np.empty(len(rows), dtype=np.int64)
        reused = 0
        previous_size = previous.size if previous else 0
        fresh_positions = []
        for i, row in enumerate(rows):
            if isinstance(row, int | np.integer):
                order[i] = int(row)
                reused += 1
                continue
            fresh_positions.append(i)
            for term, count in Counter(row or [EMPTY]).items():
                if term not in term_id:
                    term_id[term] = len(vocab)
                    vocab.append(term)
                fresh_terms.append(term_id[term])
                fresh_counts.append(count)
            fresh_ptr.append(len(fresh_terms))
        order[fresh_positions] = previous_size + np.arange(len(fresh_positions))
        width = len(vocab)
        fresh = sparse.csr_matrix((np.asarray(fresh_counts, np.float32), np.asarray(fresh_terms, np.int32),
                                   np.asarray(fresh_ptr, np.int64)), shape=(len(fresh_positions), width))
        if previous is not None and reused:
            old = previous.rows
            old = sparse.csr_matrix((old.data, old.indices, old.indptr), shape=(old.shape[0], width))
            stacked = sparse.vstack([old, fresh], format="csr")
        else:
            stacked = fresh
            order -= previous_size
        matrix = stacked[order] if len(order) else stacked[:0]
        matrix.sort_indices()
        index = cls(vocab, matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32),
                    matrix.data.astype(np.int32))
        return index._compacted()

    def _compacted(self) -> LexicalIndex:
        """This index, or a copy without dead terms when they are the majority."""
        live = np.flatnonzero(self.doc_freq)
        if len(self.vocab_list) <= 2 * len(live) + 1024:
            return self
        remap = np.full(len(self.vocab_list), -1, dtype=np.int32)
        remap[live] = np.arange(len(live), dtype=np.int32)
        rows = self.rows
        return LexicalIndex([self.vocab_list[i] for i in live], rows.indptr.astype(np.int64),
                            remap[rows.indices], rows.data.astype(np.int32))

    # ------------------------------------------------------------------ files
    def save(self, folder: Path) -> None:
        """Write the index files into ``folder`` (created)."""
        folder.mkdir()
        (folder / "vocab.json").write_text(json.dumps(self.vocab_list, ensure_ascii=False), encoding="utf-8")
        np.save(folder / "indptr.npy", self.rows.indptr.astype(np.int64))
        np.save(folder / "terms.npy", self.rows.indices.astype(np.int32))
        np.save(folder / "counts.npy", self.rows.data.astype(np.int32))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`.

        Raises:
            OSError, ValueError: missing or inconsistent files.
        """
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        indptr, terms, counts = (np.load(folder / f"{name}.npy") for name in ("indptr", "terms", "counts"))
        if len(terms) != len(counts) or (len(indptr) and indptr[-1] != len(terms)) \
                or (len(terms) and int(terms.max()) >= len(vocab)):
            raise ValueError(f"{folder}: lexical index files disagree")
        return cls(vocab, indptr, terms, counts)

    # ------------------------------------------------------------------ search
    def __contains__(self, term: object) -> bool:
        """Whether ``term`` occurs in any chunk."""
        tid = self.term_id.get(term) if isinstance(term, str) else None
        return tid is not None and self.doc_freq[tid] > 0

    def terms(self) -> Iterable[str]:
        """The terms that occur in at least one chunk."""
        return (self.vocab_list[i] for i in np.flatnonzero(self.doc_freq))

    def cooccur(self, first: str, second: str) -> bool:
        """Whether some chunk contains both terms."""
        if first not in self or second not in self:
            return False
        columns = self._statistics()[0]
        rows = [columns.indices[columns.indptr[t]:columns.indptr[t + 1]]
                for t in (self.term_id[first], self.term_id[second])]
        return bool(np.intersect1d(rows[0], rows[1], assume_unique=True).size)

    def get_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for a tokenised query (repeated tokens count again).

        Returns:
            A float32 array with one score per row (0 where no query term occurs).
        """
        scores = np.zeros(self.size, dtype=np.float32)
        if not self.size:
            return scores
        columns, idf, norm = self._statistics()
        for token in tokens:
            tid = self.term_id.get(token)
            if tid is None or not self.doc_freq[tid]:
                continue
            start, end = columns.indptr[tid], columns.indptr[tid + 1]
            rows, tf = columns.indices[start:end], columns.data[start:end]
            scores[rows] += idf[tid] * tf / (norm[rows] + tf)
        return scores

    def _statistics(self):
        if self._columns is None:
            lengths = np.asarray(self.rows.sum(axis=1), dtype=np.float32).ravel()
            average = float(lengths.mean()) if len(lengths) else 1.0
            df = self.doc_freq.astype(np.float32)
            idf = np.log1p((self.size - df + 0.5) / (df + 0.5)).astype(np.float32)
            norm = (K1 * ((1 - B) + B * lengths / average)).astype(np.float32)
            self._columns = (self.rows.tocsc(), idf, norm)
        return self._columns
