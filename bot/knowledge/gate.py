"""The evidence gate: does the material answer the question at all?

The search (:mod:`bot.knowledge.search`) ranks passages; the gate then decides from
retrieval features (:func:`gate_features`) whether the best of them answers the question,
with a small calibrated logistic model (:class:`GateModel`, ``gate.json``, written by
``python -m bot.evaluation.calibrate``) and the labelled questions it compares a new one
with (:class:`GateExamples`, ``gate_examples.npz``). When it declines but the question was
close to answerable, it still names the closest section, so the learner can open it
knowing it may not answer them (:class:`GateVerdict`). Without a model that fits the
index's embedders it falls back to per-embedder thresholds (:class:`Gate`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.knowledge.lexical import LexicalIndex
from bot.knowledge.text import tokenize
from bot.language import is_indic_script

log = logging.getLogger(__name__)

#: The calibrated model (written by ``make calibrate``).
GATE_FILE = Path(__file__).with_name("gate.json")
#: E5 vectors of the labelled calibration questions (written by ``make calibrate``).
GATE_EXAMPLES_FILE = Path(__file__).with_name("gate_examples.npz")

#: Retrieval features the calibrated gate reads (see :func:`gate_features`).
GATE_FEATURES = ("e5_top", "minilm_top", "devanagari", "vocab_coverage", "hit_coverage", "bm25_top",
                 "pair_cooccurrence", "example_margin", "rerank_top")


@dataclass(frozen=True)
class GateExamples:
    """Labelled questions the gate compares a new question with (nearest neighbours).

    ``margin`` is how much closer the question is to its nearest in-scope examples than
    to its nearest out-of-scope ones, in one embedder's space: a question like those the
    course answers scores high, one like the service matters it does not cover scores
    low. An example identical to the question is left out, so the labelled questions
    themselves are scored leave-one-out, as in calibration.

    Args:
        embedder: the embedder whose query vectors ``vectors`` holds.
        vectors: one normalised row per example.
        labels: 1 in scope, 0 out of scope.
    """

    embedder: str
    vectors: np.ndarray
    labels: np.ndarray
    neighbours: int = 3

    def margin(self, vector: np.ndarray, exclude: np.ndarray | None = None) -> float:
        """Mean similarity to the nearest in-scope examples minus that to the nearest out-of-scope ones.

        Args:
            vector: the question's normalised vector in ``embedder``'s space.
            exclude: optional boolean mask of examples to leave out (calibration leaves
                out the examples about the question's own document, see
                :func:`bot.evaluation.calibrate.add_example_margins`).

        Returns:
            The margin (0.0 when either side has no example).
        """
        similarities = self.vectors @ vector
        keep = similarities < 0.9999  # the question itself, when it is one of the examples
        if exclude is not None:
            keep &= ~exclude
        inside = np.sort(similarities[keep & (self.labels == 1)])[-self.neighbours:]
        outside = np.sort(similarities[keep & (self.labels == 0)])[-self.neighbours:]
        if not len(inside) or not len(outside):
            return 0.0
        return float(inside.mean() - outside.mean())

    def save(self, path: Path = GATE_EXAMPLES_FILE) -> None:
        """Store the examples compressed (float16 vectors, int8 labels)."""
        np.savez_compressed(path, embedder=self.embedder, vectors=self.vectors.astype(np.float16),
                            labels=self.labels.astype(np.int8))

    @classmethod
    def load(cls, path: Path = GATE_EXAMPLES_FILE) -> GateExamples | None:
        """The stored examples, or None when the file is missing or unreadable."""
        try:
            with np.load(path) as data:
                return cls(str(data["embedder"]), data["vectors"].astype(np.float32), data["labels"].astype(int))
        except (OSError, KeyError, ValueError) as exc:
            log.warning("gate examples %s not usable (%s)", path, exc)
            return None


@dataclass(frozen=True)
class GateModel:
    """A logistic model over retrieval features: P(the material answers the question).

    Produced by ``python -m bot.evaluation.calibrate`` from the labelled questions
    (``split: dev``) and stored in ``bot/knowledge/gate.json``.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    embedders: tuple[str, ...] = ("minilm", "e5")
    #: Below ``threshold`` but at least this: decline, yet point to the closest section
    #: (None: never). Chosen on dev so that nearly every in-scope question is answered
    #: or pointed to the right place (see ``bot.evaluation.calibrate``).
    pointer_threshold: float | None = None

    def probability(self, features: dict[str, float]) -> float:
        """P(the material answers the question) for these feature values."""
        # A feature that could not be computed (e.g. no examples file) counts as average.
        x = np.array([features.get(f, m) for f, m in zip(self.features, self.mean, strict=True)], dtype=np.float64)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias))))

    def applies(self, embedders: Sequence[str]) -> bool:
        """The model is only valid for the embedders it was calibrated with."""
        return set(self.embedders) <= set(embedders)

    @classmethod
    def from_dict(cls, data: dict) -> GateModel:
        """The model stored by :meth:`to_dict` (files from before the pointer have none)."""
        pointer = data.get("pointer_threshold")
        return cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                   float(data["bias"]), float(data["threshold"]), tuple(data.get("embedders", ("minilm", "e5"))),
                   None if pointer is None else float(pointer))

    def to_dict(self) -> dict:
        """The model as the JSON ``gate.json`` stores under ``model``."""
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold,
                "embedders": list(self.embedders), "pointer_threshold": self.pointer_threshold}

    @classmethod
    def load(cls, path: Path = GATE_FILE) -> GateModel | None:
        """The stored model, or None when the file is missing or unreadable."""
        try:
            return cls.from_dict(json.loads(path.read_text())["model"])
        except (OSError, KeyError, ValueError, TypeError) as exc:
            log.warning("gate model %s not usable (%s): using per-embedder thresholds", path, exc)
            return None


@dataclass(frozen=True)
class GateVerdict:
    """What the gate made of a question.

    Attributes:
        answer: the material answers it: reply from the best passage.
        closest: not answered, but close enough that the best passage is worth naming
            as "the closest section, which may not answer you" (never shown as an answer).
        probability: the calibrated model's P(answerable); None under the threshold rule.
    """

    answer: bool
    closest: bool = False
    probability: float | None = None


@dataclass(frozen=True)
class Gate:
    """Evidence gate: does the material answer the question?

    With a calibrated :class:`GateModel` (the default, from ``gate.json``) the decision is
    a logistic model over retrieval features; without one, or when the index was built
    with other embedders than the model's, it falls back to per-embedder thresholds on the
    top cosine similarity (answer when any embedder clears its threshold). English MiniLM
    similarities are not meaningful for Devanagari queries, so for those only
    multilingual embedders vote.
    """

    thresholds: dict[str, float] = field(default_factory=lambda: {"minilm": 0.40, "e5": 0.855})
    default: float = 0.5
    model: GateModel | None = None
    examples: GateExamples | None = None

    def example_features(self, query_vectors: dict[str, np.ndarray]) -> dict[str, float]:
        """``example_margin`` (see :class:`GateExamples`) when its embedder ran."""
        if self.examples is None or self.examples.embedder not in query_vectors:
            return {}
        return {"example_margin": self.examples.margin(query_vectors[self.examples.embedder])}

    def threshold(self, embedder: str) -> float:
        """The fallback threshold for ``embedder`` (``default`` when it has none)."""
        return self.thresholds.get(embedder, self.default)

    def answerable(self, top_scores: dict[str, float], query: str) -> bool:
        """The threshold rule on the best cosine similarity per embedder."""
        indic = is_indic_script(query)
        for name, score in top_scores.items():
            if indic and name == "minilm":
                continue
            if score >= self.threshold(name):
                return True
        return False

    def assess(self, features: dict[str, float], top_scores: dict[str, float], query: str) -> GateVerdict:
        """The gate's verdict: the calibrated model when it applies, else the thresholds."""
        model = self.model
        if model is not None and model.applies(list(top_scores)):
            p = model.probability(features)
            closest = model.pointer_threshold is not None and model.pointer_threshold <= p < model.threshold
            return GateVerdict(p >= model.threshold, closest, p)
        return GateVerdict(self.answerable(top_scores, query))

    @classmethod
    def from_env(cls) -> Gate:
        """The calibrated model from ``gate.json`` plus fallback thresholds.

        ``TUTOR_GATE=minilm:0.40,e5:0.855`` overrides the thresholds and switches the model
        off; ``TUTOR_GATE_MODEL=/path/gate.json`` loads another model file (with the
        ``gate_examples.npz`` beside it).
        """
        spec = os.environ.get("TUTOR_GATE", "")
        base = cls()
        if not spec:
            model_file = Path(os.environ.get("TUTOR_GATE_MODEL") or GATE_FILE)
            return cls(model=GateModel.load(model_file),
                       examples=GateExamples.load(model_file.with_name(GATE_EXAMPLES_FILE.name)))
        values = dict(base.thresholds)
        for part in spec.split(","):
            name, _, value = part.partition(":")
            if name.strip() and value.strip():
                values[name.strip()] = float(value)
        return cls(thresholds=values)




def gate_features(vocabulary: LexicalIndex, query: str, top_scores: dict[str, float],
                  lexical: list[tuple[int, float]], best_passage: str) -> dict[str, float]:
    """Retrieval features the evidence gate decides on.

    Args:
        vocabulary: the searched index's lexical index (which words the material uses).
        query: the question.
        top_scores: best cosine similarity per embedder.
        lexical: BM25 ``(row, score)`` pairs, best first.
        best_passage: the text of the best fused hit (its ``embed_text``; empty when none).

    Returns:
        ``e5_top`` / ``minilm_top`` (best cosine; MiniLM counts 0 for questions in an
        Indian script, where its similarities mean nothing), ``devanagari`` (0/1: the
        question is in an Indian script, Devanagari or another; the name is the one the
        calibrated model stores), ``vocab_coverage``
        (share of the question's content words that occur anywhere in the material - an
        off-topic question uses words the course never does), ``hit_coverage`` (share
        found in the best passage), ``bm25_top`` (log(1 + best BM25 score)),
        ``pair_cooccurrence`` (share of neighbouring content-word pairs
        of the question, such as "night duty" or "study leave", that occur together in
        some chunk: near-miss questions name terms of art the course never uses).
    """
    indic = is_indic_script(query)
    ordered_words = tokenize(query)
    words = set(ordered_words)
    top_words = set(tokenize(best_passage))
    pairs = list(zip(ordered_words, ordered_words[1:], strict=False))
    return {
        "pair_cooccurrence": (sum(vocabulary.cooccur(a, b) for a, b in pairs) / len(pairs)) if pairs else 1.0,
        "e5_top": float(top_scores.get("e5", 0.0)),
        "minilm_top": 0.0 if indic else float(top_scores.get("minilm", 0.0)),
        "devanagari": 1.0 if indic else 0.0,
        "vocab_coverage": sum(w in vocabulary for w in words) / len(words) if words else 0.0,
        "hit_coverage": len(words & top_words) / len(words) if words else 0.0,
        "bm25_top": float(np.log1p(lexical[0][1])) if lexical else 0.0,
    }


__all__ = ["GATE_EXAMPLES_FILE", "GATE_FEATURES", "GATE_FILE", "Gate", "GateExamples", "GateModel", "GateVerdict",
           "gate_features"]
