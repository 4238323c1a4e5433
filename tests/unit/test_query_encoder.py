"""MiniLM's fine-tuned query side: training keeps the best epoch, storage, loading.

Training runs on the packaged MiniLM with a toy set of passages (a few seconds).
"""

from __future__ import annotations

import numpy as np
import pytest

from bot.knowledge.embedders import (
    QUERY_WEIGHTS,
    SentenceTransformerEmbedder,
    default_query_weights,
    load_tuned,
    make_embedder,
)
from bot.training.pairs import Example
from bot.training.query_encoder import save, train

# Passages whose wording an officer's question does not share: the mapping must be learnt.
PASSAGES = {
    "cl": "Casual leave: not more than eight days in a calendar year.",
    "el": "Earned leave is credited in advance in two instalments of fifteen days each.",
    "ccl": "Child care leave up to two years for women employees to look after two eldest children.",
    "pen": "Qualifying service of not less than ten years entitles a Government servant to pension.",
    "rti": "The Central Public Information Officer shall dispose of the request within thirty days.",
    "gem": "Goods up to fifty thousand rupees may be purchased directly from the Government e-Marketplace.",
}
QUESTIONS = {
    "cl": ["short leave for personal work how much", "days off for urgent private matters per year"],
    "el": ["annual paid holidays credited when", "vacation balance added each half year"],
    "ccl": ["time off to look after my kids", "mother needs leave for son's exams"],
    "pen": ["when do I qualify for a monthly retirement income", "minimum years for retirement benefits"],
    "rti": ["deadline to answer an information request", "how fast must the officer reply to the applicant"],
    "gem": ["buy office items online small value", "can I order a printer without tender"],
}


@pytest.fixture(scope="module")
def toy():
    embedder = SentenceTransformerEmbedder(query_weights=None)
    ids = list(PASSAGES)
    matrix = embedder.embed_passages([PASSAGES[i] for i in ids])
    row_of = {chunk_id: n for n, chunk_id in enumerate(ids)}
    examples = [Example(q, [chunk_id]) for chunk_id, qs in QUESTIONS.items() for q in qs]
    return embedder, matrix, row_of, examples


def test_training_moves_questions_towards_their_passages_and_keeps_the_best_epoch(toy, tmp_path):
    embedder, matrix, row_of, examples = toy
    model, history = train(examples, examples, matrix, row_of, embedder.base_path(), epochs=3, lr=1e-4,
                           batch=4, written_repeat=1, threads=2)
    assert history[0]["epoch"] == 0  # the packaged model is a candidate too
    best = max(history, key=lambda h: (h["mrr@10"], h["hit@1"]))
    assert best["mrr@10"] > history[0]["mrr@10"]
    save(model, {"history": history}, tmp_path)
    tuned = SentenceTransformerEmbedder(query_weights=tmp_path)
    assert tuned.version not in ("", "base")
    vectors = tuned.embed_queries([q for qs in QUESTIONS.values() for q in qs])
    ranks = np.argsort(-(vectors @ matrix.T), axis=1)[:, 0]
    wanted = [row_of[c] for c, qs in QUESTIONS.items() for _ in qs]
    assert np.mean(ranks == wanted) >= best["hit@1"] - 1e-6
    # Passages are still embedded by the packaged model: stored vectors stay valid.
    assert np.allclose(tuned.embed_passages([PASSAGES["cl"]]), matrix[:1], atol=1e-5)


def test_weights_for_another_model_are_refused(toy, tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"0.auto_model.encoder.layer.9.output.dense.bias": torch.zeros(384)}, str(tmp_path / QUERY_WEIGHTS))
    from sentence_transformers import SentenceTransformer

    with pytest.raises(ValueError, match="does not fit"):
        load_tuned(SentenceTransformer(toy[0].base_path(), device="cpu"), tmp_path / QUERY_WEIGHTS)


def test_the_shipped_query_side_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_QUERY_ENCODER", "off")
    assert default_query_weights() is None
    assert make_embedder("minilm").version == "base"
    monkeypatch.setenv("TUTOR_QUERY_ENCODER", str(tmp_path))  # nothing there
    assert default_query_weights() is None
