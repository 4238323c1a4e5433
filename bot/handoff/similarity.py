"""Deciding whether two learners asked the same question (queue de-duplication).

A sentence embedder is used when it loads (paraphrases match): the action server passes
the retriever's own (:func:`bot.wiring.retriever_embedder`), so the model is loaded once per
process. Otherwise, and in unit tests, a lexical measure (word and character-trigram
overlap) is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from bot.knowledge.embedders import Embedder, make_embedder
from bot.language import WORD

log = logging.getLogger(__name__)
_STOP = frozenset(["a", "an", "the", "is", "are", "was", "what", "how", "do", "does", "can", "i", "my", "me", "to", "of", "for", "in", "on", "at", "and", "or", "be", "it", "this", "that", "with", "by", "from", "please", "tell", "about", "kya", "hai", "ka", "ki", "ke"])


class Similarity(Protocol):
    """Scores how alike a question is to each of several others (0..1)."""

    @property
    def threshold(self) -> float:
        """The score from which two questions count as the same."""

    def scores(self, question: str, others: Sequence[str]) -> list[float]:
        """One score per element of ``others``."""


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in _STOP}


def _trigrams(text: str) -> set[str]:
    squashed = " ".join(WORD.findall(text.lower()))
    return {squashed[i:i + 3] for i in range(max(0, len(squashed) - 2))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class LexicalSimilarity:
    """Mean of content-word Jaccard and character-trigram Jaccard.

    Args:
        threshold: score at or above which two questions count as the same.
    """

    def __init__(self, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def scores(self, question: str, others: Sequence[str]) -> list[float]:
        """Mean of word and character-trigram Jaccard overlap with each of ``others``."""
        words, grams = _words(question), _trigrams(question)
        return [(_jaccard(words, _words(o)) + _jaccard(grams, _trigrams(o))) / 2 for o in others]


class EmbeddingSimilarity:
    """Cosine similarity of sentence embeddings.

    Args:
        embed: function returning L2-normalised query vectors for a list of texts.
        threshold: cosine at or above which two questions count as the same.
    """

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], threshold: float = 0.82) -> None:
        self.embed = embed
        self.threshold = threshold

    def scores(self, question: str, others: Sequence[str]) -> list[float]:
        """Cosine similarity of the embedded question with each of ``others``."""
        if not others:
            return []
        vectors = np.asarray(self.embed([question, *others]), dtype=np.float32)
        return [float(v) for v in vectors[1:] @ vectors[0]]


def default_similarity(embedder_name: str, threshold: float, lexical_threshold: float,
                       embedder: Callable[[str], Embedder] | None = None) -> Similarity:
    """The named embedder if it can be built, else the lexical measure.

    Args:
        embedder_name: e.g. ``minilm``.
        threshold: cosine threshold for the embedder.
        lexical_threshold: threshold for the lexical fallback.
        embedder: returns the embedder for a name; pass one that shares the process's
            already-loaded models (the retriever's). Default: a new one (:func:`make_embedder`).

    Returns:
        A :class:`Similarity`.
    """
    try:
        model = (embedder or make_embedder)(embedder_name)
        return EmbeddingSimilarity(model.embed_queries, threshold)
    except Exception as exc:  # no model installed, no index yet: lexical is still useful
        log.warning("queue de-duplication falls back to lexical similarity: %s", exc)
        return LexicalSimilarity(lexical_threshold)
