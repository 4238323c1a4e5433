"""The cross-encoder reranker: training, storage, and how search uses it.

Training runs on one layer of the packaged MiniLM and a toy set (seconds); storage is
checked on a tiny random BERT saved as a base folder; the shipped model is tested in
``test_reranker_model.py`` (marked ``model``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from bot.knowledge.index import update_index
from bot.knowledge.reranker import WEIGHTS_FILE, Reranker, RerankerConfig, base_model_path, save, trainable_state
from bot.knowledge.search import Retriever
from bot.training.pairs import Example, heading_name, split_of, structural_questions
from bot.training.reranker import choose_weight, train
from tests.conftest import write

TOPICS = ["casual leave", "earned leave", "pension", "gratuity", "tender", "appeal", "fees", "medical claim",
          "transfer", "training", "gifts", "suspension"]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with the packaged tokenizer, saved as a base model."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def topic_examples(n: int, seed: int = 1) -> tuple[list[Example], dict[str, str]]:
    """Questions naming a topic; the positive passage is about that topic, negatives about others."""
    rng = random.Random(seed)
    texts = {f"p-{t}": f"Rules on {t}. An officer asking about {t} finds the {t} provisions here." for t in TOPICS}
    examples = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        others = [f"p-{t}" for t in TOPICS if t != topic]
        question = rng.choice(["what are the rules on {t}", "{t}?", "tell me about {t}"]).format(t=topic)
        examples.append(Example(question, [f"p-{topic}"], rng.sample(others, 7)))
    return examples, texts


def first_place_rate(model_or_reranker, tokenizer, examples, texts, max_length=64) -> float:
    import torch

    right = 0
    for example in examples:
        ids = [*example.positives, *example.negatives]
        batch = tokenizer([example.question] * len(ids), [texts[i] for i in ids], truncation=True,
                          max_length=max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = model_or_reranker(**batch).numpy()
        right += int(np.argmax(logits) == 0)
    return right / len(examples)


def test_training_teaches_a_one_layer_model_to_rank_the_answering_passage_first():
    from bot.knowledge.reranker import build_model

    examples, texts = topic_examples(48)
    config = RerankerConfig(layers=2, max_length=48)
    untrained, tokenizer = build_model(2)
    untrained.eval()
    before = first_place_rate(untrained, tokenizer, examples[:24], texts)
    model = train(examples, texts, config, epochs=5, lr=2e-4, written_repeat=1, seed=3, threads=2)
    after = first_place_rate(model, tokenizer, examples[:24], texts)
    assert after >= 0.9, (before, after)
    assert after > before + 0.3


def test_saved_weights_leave_out_the_frozen_word_embeddings_and_load_back(tiny_base, tmp_path):
    from bot.knowledge.reranker import build_model

    examples, texts = topic_examples(24)
    config = RerankerConfig(layers=2, max_length=64, weight=0.7, base=tiny_base)
    model = train(examples, texts, config, epochs=1, lr=1e-3, written_repeat=1, seed=3, threads=1)
    save(model, config, tmp_path)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / WEIGHTS_FILE))
    assert not any("word_embeddings" in k for k in stored)
    assert set(stored) == set(trainable_state(model))
    reranker = Reranker(tmp_path, quantize=False)
    assert reranker.config.weight == 0.7
    _, tokenizer = build_model(2, tiny_base)
    passages = [texts["p-pension"], texts["p-tender"], texts["p-appeal"]]
    import torch

    batch = tokenizer(["pension rules"] * 3, passages, truncation=True, max_length=64, padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        expected = model(**batch).numpy()
    assert np.allclose(reranker.score("pension rules", passages), expected, atol=2e-2)
    quantized = Reranker(tmp_path, quantize=True).score("pension rules", passages)
    assert quantized.shape == (3,) and np.isfinite(quantized).all()
    # A question longer than the model's input (a pasted paragraph) is scored, not refused.
    long_question = "what do the pension rules say about " + " ".join(TOPICS * 20)
    assert reranker.score(long_question, passages).shape == (3,)


def test_weights_from_another_architecture_are_refused(tiny_base, tmp_path):
    examples, texts = topic_examples(8)
    model = train(examples, texts, RerankerConfig(layers=2, max_length=64, base=tiny_base), epochs=1,
                  written_repeat=1, threads=1)
    save(model, RerankerConfig(layers=1, max_length=64, base=tiny_base), tmp_path)  # says 1 layer, has 2
    with pytest.raises(ValueError, match="do not fit"):
        Reranker(tmp_path, quantize=False).score("q", ["p"])


def test_missing_or_switched_off_reranker_means_hybrid_ranking(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_RERANKER", str(tmp_path / "nothing-here"))
    assert Reranker.load_default() is None
    monkeypatch.setenv("TUTOR_RERANKER", "off")
    assert Reranker.load_default() is None


@dataclass
class ScriptedReranker:
    """Scores passages by a keyword: the search test decides which passage should win."""

    keyword: str
    config: RerankerConfig = RerankerConfig(weight=10.0)
    calls: int = 0

    def score(self, question, passages):
        self.calls += 1
        return np.array([5.0 if self.keyword in p else -5.0 for p in passages], dtype=np.float32)


LEAVE = """
---
title: "Leave"
language: en
---
# Leave
## 3. Earned leave
Earned leave is credited at 30 days a year in two instalments.
## 3.1 Encashment of earned leave
Earned leave can be encashed up to 300 days of earned leave at retirement.
## 4. Casual leave
Casual leave is 8 days a year.
"""


@pytest.fixture
def leave_index(tmp_path, fake_embedder):
    kb = tmp_path / "kb"
    write(kb / "leave.md", LEAVE)
    update_index(kb, tmp_path / "index", [fake_embedder])
    return tmp_path / "index"


def test_search_reorders_the_top_candidates_by_the_reranker(leave_index, fake_embedder):
    question = "how many days of earned leave per year"
    plain = Retriever(leave_index, {"fake": fake_embedder}, reranker=None).search(question, k=3)
    scripted = ScriptedReranker("30 days a year")
    reranked = Retriever(leave_index, {"fake": fake_embedder}, reranker=scripted).search(question, k=3)
    assert scripted.calls == 1
    assert "30 days a year" in reranked.hits[0].chunk.text
    assert reranked.hits[0].rerank == 5.0
    assert reranked.features["rerank_top"] == 5.0
    assert "rerank_top" not in plain.features and plain.hits[0].rerank is None
    assert {h.chunk.id for h in reranked.hits} <= {h.chunk.id for h in
                                                   Retriever(leave_index, {"fake": fake_embedder}, reranker=None)
                                                   .search(question, k=10).hits}
    # rerank=False is the fusion alone, on the same retriever
    again = Retriever(leave_index, {"fake": fake_embedder}, reranker=scripted).search(question, k=3, rerank=False)
    assert [h.chunk.id for h in again.hits] == [h.chunk.id for h in plain.hits]


@pytest.mark.parametrize("question", ["अर्जित अवकाश कितने दिन", "ஈட்டிய விடுப்பு எத்தனை நாட்கள்",
                                      "অর্জিত ছুটি কত দিন"])
def test_questions_in_an_indian_script_keep_the_hybrid_ranking(leave_index, fake_embedder, question):
    # The cross-encoder is English MiniLM: it reads no Indian script (Hindi, Tamil, Bengali).
    scripted = ScriptedReranker("Casual")
    result = Retriever(leave_index, {"fake": fake_embedder}, reranker=scripted).search(question, k=3)
    assert scripted.calls == 0 and all(h.rerank is None for h in result.hits)


def test_blend_weight_is_chosen_on_dev_questions(leave_index, fake_embedder):
    retriever = Retriever(leave_index, {"fake": fake_embedder}, reranker=None)
    question = "how many days of earned leave per year"
    target = next(c for c in retriever.index.chunks if "8 days a year" in c.text)  # fusion ranks it low
    assert retriever.search(question, k=1).hits[0].chunk.id != target.id
    examples = [Example(question, [target.id], ["x"], source="leave.md")]
    weight, table = choose_weight(examples, {"leave.md": retriever}, ScriptedReranker("8 days a year"))
    assert table[0.0]["hit@1"] == 0.0
    assert table[weight]["hit@1"] == 1.0 and weight > 0


def test_structural_questions_come_from_headings_and_definitions(leave_index, fake_embedder):
    chunks = Retriever(leave_index, {"fake": fake_embedder}, reranker=None).index.chunks
    questions = structural_questions(chunks, random.Random(0))
    assert any("encashment of earned leave" in q.lower() for q, _ in questions)
    assert heading_name("Section 7. Disposal of request.-") == "Disposal of request"
    assert heading_name("Rule 26 Earned leave") == "Earned leave"
    assert {split_of(f"q{i}") for i in range(200)} == {"dev", "train"}
    assert split_of("q1") == split_of("q1")


def test_a_reranker_trained_to_have_no_say_is_not_run(tiny_base, tmp_path, monkeypatch):
    examples, texts = topic_examples(8)
    model = train(examples, texts, RerankerConfig(layers=2, max_length=64, base=tiny_base), epochs=1,
                  written_repeat=1, threads=1)
    save(model, RerankerConfig(layers=2, max_length=64, weight=0.0, base=tiny_base), tmp_path)
    monkeypatch.setenv("TUTOR_RERANKER", str(tmp_path))
    assert Reranker.load_default() is None
    save(model, RerankerConfig(layers=2, max_length=64, weight=0.5, base=tiny_base), tmp_path)
    assert Reranker.load_default() is not None
