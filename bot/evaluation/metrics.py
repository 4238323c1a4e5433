"""Ranking metrics and the content matching used to judge hits.

All metrics take, per query, the list of relevance gains of the ranked results
(0 = not relevant) after any de-duplication, so that they do not depend on how
a pipeline represents its hits.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

_NON_WORD = re.compile(r"[^\w\u0900-\u097F]+")


def hit_at(gains: Sequence[float], k: int) -> float:
    """1.0 when a relevant result is among the first ``k``, else 0.0."""
    return 1.0 if any(g > 0 for g in gains[:k]) else 0.0


def mrr_at(gains: Sequence[float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant result within ``k`` (0 if none)."""
    for rank, gain in enumerate(gains[:k], start=1):
        if gain > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at(gains: Sequence[float], ideal: Sequence[float], k: int = 10) -> float:
    """Normalised discounted cumulative gain with graded relevance.

    Args:
        gains: gains of the ranked results.
        ideal: the gains of every relevant item for the query (any order).
        k: cut-off.

    Returns:
        nDCG@k in [0, 1]; 0 when the query has no relevant item.
    """
    def dcg(values: Sequence[float]) -> float:
        return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(values[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(gains) / best if best > 0 else 0.0


def normalise_text(text: str) -> str:
    """Lower-case, NFKC (ligatures such as "ﬁ" become "fi"), words joined by single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", text).strip()


def contains_answer(passage: str, answer: str, probe_chars: int = 120, min_overlap_chars: int = 80) -> bool:
    """Whether a passage holds the gold answer text (robust to chunk boundaries).

    A long answer may be cut across chunks, so a passage counts when it contains the
    answer's opening (``probe_chars`` normalised characters), or when the passage is
    long enough and lies entirely inside the answer.

    Args:
        passage: retrieved chunk text.
        answer: gold answer text.
        probe_chars: how much of the answer's opening must appear.
        min_overlap_chars: the shortest passage that counts by lying inside the answer.

    Returns:
        True when the passage carries the answer.
    """
    p, a = normalise_text(passage), normalise_text(answer)
    if not a or not p:
        return False
    probe = a[:probe_chars].rsplit(" ", 1)[0] if len(a) > probe_chars else a
    if probe and probe in p:
        return True
    return len(p) >= min_overlap_chars and p in a


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over queries (rows are per-query metric dicts)."""
    if not rows:
        return {}
    keys = rows[0].keys()
    return {key: sum(r[key] for r in rows) / len(rows) for key in keys}
