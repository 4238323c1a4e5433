"""The evidence gate: calibration logic, the stored model, glossary expansion, and the
real-index quality check (marked ``model``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.evaluation.calibrate import Sample, calibrate, choose_pointer_threshold, choose_threshold, fit_logistic, rates
from bot.knowledge.gate import GATE_FEATURES, GATE_FILE, Gate, GateModel, GateVerdict
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever, fuse
from bot.knowledge.text import Glossary, GlossaryError, cached_glossary
from tests.conftest import FakeEmbedder, write

# ---------------------------------------------------------------- calibration


def test_logistic_fit_separates_a_separable_set() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-2, 0.5, (40, 2)), rng.normal(2, 0.5, (40, 2))])
    y = np.r_[np.zeros(40), np.ones(40)]
    weights, bias = fit_logistic(x, y, l2=0.1)
    predicted = 1 / (1 + np.exp(-(x @ weights + bias))) >= 0.5
    assert (predicted == y.astype(bool)).mean() == 1.0
    assert weights[0] > 0 and weights[1] > 0


def test_threshold_maximises_the_worse_rate_and_takes_the_middle_of_ties() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    threshold, sweep = choose_threshold(p, y)
    assert 0.3 < threshold < 0.7  # any cut in the gap separates; the middle keeps a margin
    assert rates(p, y, threshold) == (1.0, 1.0)
    assert all(0 <= a <= 1 and 0 <= d <= 1 for _, a, d in sweep)


def test_calibrate_fits_on_dev_only() -> None:
    def sample(score: float, label: int, split: str) -> Sample:
        return Sample("q", {"e5_top": score, "minilm_top": score}, label, split, "en", {})
    dev = [sample(0.9, 1, "dev"), sample(0.85, 1, "dev"), sample(0.5, 0, "dev"), sample(0.55, 0, "dev")]
    # A contradicting test split must not influence the fit.
    test = [sample(0.9, 0, "test"), sample(0.5, 1, "test")]
    model, _ = calibrate(dev + test, ("e5_top", "minilm_top"), l2=0.1)
    assert model.probability({"e5_top": 0.9, "minilm_top": 0.9}) >= model.threshold
    assert model.probability({"e5_top": 0.5, "minilm_top": 0.5}) < model.threshold


# ---------------------------------------------------------------- gate decisions

MODEL = GateModel(features=("e5_top",), mean=(0.8,), scale=(0.05,), weights=(3.0,), bias=0.0,
                  threshold=0.5, embedders=("minilm", "e5"))


def test_gate_uses_the_model_when_its_embedders_are_there() -> None:
    gate = Gate(model=MODEL)
    assert gate.assess({"e5_top": 0.9}, {"minilm": 0.1, "e5": 0.9}, "q").answer is True
    verdict = gate.assess({"e5_top": 0.7}, {"minilm": 0.9, "e5": 0.7}, "q")
    assert verdict.answer is False and verdict.probability == pytest.approx(MODEL.probability({"e5_top": 0.7}))
    assert verdict.closest is False  # this model names no closest section


def test_gate_falls_back_to_thresholds_for_other_embedders() -> None:
    gate = Gate({"fake": 0.3}, model=MODEL)
    assert gate.assess({}, {"fake": 0.5}, "q") == GateVerdict(True)
    assert gate.assess({}, {"fake": 0.1}, "q") == GateVerdict(False)


def test_a_near_miss_is_declined_but_gets_the_closest_section() -> None:
    gate = Gate(model=replace(MODEL, pointer_threshold=0.2))  # P = 0.5 at e5_top 0.8
    scores = {"minilm": 0.5, "e5": 0.8}
    near = gate.assess({"e5_top": 0.78}, scores, "q")  # P = 0.29
    assert near.answer is False and near.closest is True
    far = gate.assess({"e5_top": 0.7}, scores, "q")  # P = 0.0025
    assert far.answer is False and far.closest is False
    assert gate.assess({"e5_top": 0.85}, scores, "q") == GateVerdict(True, False, pytest.approx(0.953, abs=1e-3))


def test_pointer_cut_reaches_the_share_of_in_scope_questions_asked_for() -> None:
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.7, 0.8, 0.9, 0.95])
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1, 1, 1])
    # 4 of 7 in scope answered at 0.5; reaching 6 of 7 takes those at 0.4 and 0.35: cut halfway to 0.3.
    assert choose_pointer_threshold(p, y, 0.5, reach=0.85) == pytest.approx(0.325)
    assert choose_pointer_threshold(p, y, 0.5, reach=1.0) == pytest.approx(0.15)  # all seven
    assert choose_pointer_threshold(p, y, 0.5, reach=0.5) == 0.5  # already reached: no band
    assert choose_pointer_threshold(p, y, 0.1, reach=0.9) is None  # nothing in scope declined


def test_model_round_trips_and_the_shipped_model_is_consistent() -> None:
    assert GateModel.from_dict(MODEL.to_dict()) == MODEL
    with_pointer = replace(MODEL, pointer_threshold=0.3)
    assert GateModel.from_dict(with_pointer.to_dict()) == with_pointer
    older = {k: v for k, v in MODEL.to_dict().items() if k != "pointer_threshold"}
    assert GateModel.from_dict(older).pointer_threshold is None  # a model file from before the pointer
    stored = json.loads(GATE_FILE.read_text())
    model = GateModel.from_dict(stored["model"])
    assert set(model.features) <= set(GATE_FEATURES)
    assert len(model.weights) == len(model.features) == len(model.mean) == len(model.scale)
    assert 0 < model.threshold < 1
    assert model.pointer_threshold is not None and 0 < model.pointer_threshold < model.threshold


def test_env_thresholds_switch_the_model_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_GATE", "minilm:0.5")
    gate = Gate.from_env()
    assert gate.model is None and gate.threshold("minilm") == 0.5
    monkeypatch.delenv("TUTOR_GATE")
    assert Gate.from_env().model is not None


def test_fusion_ignores_minilm_for_devanagari_queries() -> None:
    dense = {"minilm": np.array([0.9, 0.1, 0.2]), "e5": np.array([0.80, 0.86, 0.81])}
    bm25 = np.zeros(3)
    assert int(np.argmax(fuse(dense, bm25, indic=False, weights={"minilm": 5, "e5": 1}))) == 0
    assert int(np.argmax(fuse(dense, bm25, indic=True, weights={"minilm": 5, "e5": 1}))) == 1


# ---------------------------------------------------------------- glossary


def test_glossary_expands_short_forms_as_typed() -> None:
    glossary = Glossary({"CL": "casual leave", "GeM": "government e-marketplace"})
    assert glossary.expand("how many CLs in a year") == "how many CLs (casual leave) in a year"
    assert glossary.expand("buying on gem portal") == "buying on gem (government e-marketplace) portal"
    assert glossary.expand("the cl key") == "the cl key"  # two letters: only as typed
    assert glossary.expand("casual leave CL") == "casual leave CL"  # already spelled out
    assert glossary.expand("CLEAR rules") == "CLEAR rules"  # whole words only


def test_glossary_file_errors_are_reported(tmp_path: Path) -> None:
    bad = write(tmp_path / "glossary.yml", "terms:\n  'C L': casual leave\n")
    with pytest.raises(GlossaryError, match="not a short form"):
        Glossary.load(bad)
    write(tmp_path / "g2.yml", "terms: [CL]\n")
    with pytest.raises(GlossaryError, match="mapping"):
        Glossary.load(tmp_path / "g2.yml")
    assert Glossary.load(tmp_path / "missing.yml").terms == {}


def test_a_broken_glossary_edit_keeps_the_last_good_one(tmp_path: Path) -> None:
    import os

    path = write(tmp_path / "glossary.yml", "terms:\n  CL: casual leave\n")
    assert cached_glossary(path).terms == {"CL": "casual leave"}
    path.write_text("terms: [oops\n")
    os.utime(path, (1, 1))
    assert cached_glossary(path).terms == {"CL": "casual leave"}


def test_shipped_glossary_parses() -> None:
    from bot.config import PROJECT_ROOT

    glossary = Glossary.load(PROJECT_ROOT / "knowledge_base" / "glossary.yml")
    assert glossary.terms["CL"] == "casual leave"


def test_retriever_searches_with_the_glossary(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    write(kb_dir / "glossary.yml", "terms:\n  CL: casual leave\n")
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    retriever = Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)
    result = retriever.search("CL per year?")
    assert result.query == "CL per year?"  # the learner's words are kept
    assert result.hits[0].chunk.anchor == "1. Casual leave"
    assert result.features["vocab_coverage"] > 0.5


# ---------------------------------------------------------------- the real index


@pytest.mark.model
def test_gate_on_the_real_index_meets_the_targets_on_the_held_out_split() -> None:
    """In-scope answered and out-of-scope declined on ``split: test`` (built by ``make index``)."""
    from bot.config import load_settings
    from bot.evaluation.gate_eval import gate_metrics
    from bot.knowledge.index import current_version_dir

    index_dir = load_settings().index_dir
    if current_version_dir(index_dir) is None:
        pytest.skip(f"no index at {index_dir}: run `make index`")
    metrics = gate_metrics(Retriever(index_dir))["test"]
    assert metrics["in_scope_answered"] >= IN_SCOPE_TARGET, metrics["wrongly_declined"]
    assert metrics["out_of_scope_declined"] >= OUT_OF_SCOPE_TARGET, metrics["wrongly_answered"]
    # The closest-section pointer reaches more in-scope questions without answering any more.
    assert metrics["in_scope_answered_or_pointed"] >= POINTED_TARGET


# Regression floors just under what the calibrated gate achieves on the held-out split
# (52/63 in scope answered, 29/33 out of scope declined, 55/63 answered or pointed to the
# right section). The gate is now calibrated on the corpus questions too
# (``calibrate.corpus_questions``), which traded some out-of-scope declines on the course
# modules for in-scope answers elsewhere; see the README's "Answer quality".
IN_SCOPE_TARGET = 0.80
OUT_OF_SCOPE_TARGET = 0.84
POINTED_TARGET = 0.85  # answered, or declined with a pointer to the section that answers it


def test_labelled_examples_score_a_question_by_its_nearest_neighbours(tmp_path) -> None:
    from bot.knowledge.gate import GateExamples

    basis = np.eye(4, dtype=np.float32)
    near_in = normalise_rows(np.array([[1, 0.1, 0, 0], [1, 0, 0.1, 0], [1, 0, 0, 0.1]], dtype=np.float32))
    near_out = normalise_rows(np.array([[0.1, 1, 0, 0], [0, 1, 0.1, 0], [0, 1, 0, 0.1]], dtype=np.float32))
    examples = GateExamples("e5", np.vstack([near_in, near_out]), np.array([1, 1, 1, 0, 0, 0]))
    assert examples.margin(basis[0]) > 0.5 > -0.5 > examples.margin(basis[1])
    # A labelled question is scored without itself (leave-one-out), not by its own label.
    alone = GateExamples("e5", np.vstack([basis[2:3], near_in, near_out]), np.array([0, 1, 1, 1, 0, 0, 0]))
    assert alone.margin(basis[2]) == pytest.approx(examples.margin(basis[2]))
    examples.save(tmp_path / "gate_examples.npz")
    loaded = GateExamples.load(tmp_path / "gate_examples.npz")
    assert loaded is not None and loaded.embedder == "e5"
    assert loaded.margin(basis[0]) == pytest.approx(examples.margin(basis[0]), abs=1e-3)  # stored as float16
    assert GateExamples.load(tmp_path / "missing.npz") is None
    gate = Gate(examples=examples)
    assert gate.example_features({"minilm": basis[0]}) == {}  # its embedder did not run
    assert gate.example_features({"e5": basis[0]})["example_margin"] > 0.5


def test_calibration_scores_a_question_without_the_examples_about_its_own_document() -> None:
    from bot.evaluation.calibrate import add_example_margins

    def sample(vector, label: int, source: str | None) -> Sample:
        return Sample("q", {}, label, "dev", "en", {}, {"e5": vector},
                      frozenset({f"corpus:{source}"}) if source else frozenset())

    def unit(*weights: float) -> np.ndarray:
        v = np.array(weights, dtype=np.float32)
        return v / np.linalg.norm(v)

    # Two questions about one document sit close together; the out-of-scope ones elsewhere.
    about_a = [sample(unit(1, 0.1, 0, 0), 1, "a.md"), sample(unit(1, 0, 0.1, 0), 1, "a.md")]
    about_b = [sample(unit(0, 0, 1, 0.1), 1, "b.md")]
    outside = [sample(unit(0.6, 0, 0, 1), 0, None), sample(unit(0, 0.2, 0, 1), 0, None)]
    samples = about_a + about_b + outside
    add_example_margins(samples, leave_document_out=False)
    known = samples[0].features["example_margin"]
    add_example_margins(samples)  # a new document's view: its sibling question is left out
    new = samples[0].features["example_margin"]
    assert known > 0 > new  # the sibling made it look answerable; without it the margin turns negative
    assert outside[0].features["example_margin"] < 0  # out-of-scope questions keep leave-one-out


def test_a_feature_that_could_not_be_computed_counts_as_average() -> None:
    model = GateModel(("a", "b"), (0.5, 2.0), (1.0, 1.0), (1.0, 3.0), 0.0, 0.5)
    assert model.probability({"a": 0.5}) == pytest.approx(0.5)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_gate_features_read_the_vocabulary_and_the_best_passage() -> None:
    from bot.knowledge.gate import gate_features
    from bot.knowledge.lexical import LexicalIndex
    from bot.knowledge.text import tokenize

    passages = ["Casual leave is granted for eight days in a year.", "Study leave is for higher education."]
    vocabulary = LexicalIndex.build([tokenize(p) for p in passages])
    features = gate_features(vocabulary, "casual leave rules", {"e5": 0.9, "minilm": 0.5}, [(0, 2.0)], passages[0])
    assert features == {
        "e5_top": 0.9, "minilm_top": 0.5, "devanagari": 0.0,
        "vocab_coverage": pytest.approx(2 / 3), "hit_coverage": pytest.approx(2 / 3),
        "bm25_top": pytest.approx(np.log1p(2.0)),
        "pair_cooccurrence": 0.5,  # "casual leave" occurs together, "leave rules" does not
    }
    hindi = gate_features(vocabulary, "आकस्मिक अवकाश के नियम", {"e5": 0.9, "minilm": 0.5}, [], "")
    assert (hindi["devanagari"], hindi["minilm_top"], hindi["bm25_top"], hindi["hit_coverage"]) == (1.0, 0.0, 0.0, 0.0)
