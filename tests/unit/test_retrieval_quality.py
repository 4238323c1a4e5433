"""Retrieval with the real models on real documents (marked ``model``; runs in ``make test``).

Four documents of ``../shared/corpus`` (two the query encoder trained on, two held out
of training) are indexed with the real MiniLM and E5 models, and the team's blind
officer-style questions about them (``tests/data/officer_eval/``) are asked of the
shipped pipeline and of the pipeline this work started from (the packaged MiniLM on the
query side, MiniLM's old fusion weight, no Hindi terms, no reranker), in the same test. Floors sit a little under what was
measured, so a regression fails while the run stays deterministic.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bot.evaluation.sets import OFFICER_DIR, SHARED, span_judge
from bot.knowledge import search
from bot.knowledge.embedders import SentenceTransformerEmbedder, make_embedder
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever

DOCUMENTS = ("rti-act-2005.md", "leave-rules-handout.md", "posh-act-2013.md", "dpdp-act-2023.md")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        pytest.fail(f"{corpus} is missing: the real-model tests read ../shared/corpus")
    root = tmp_path_factory.mktemp("small-corpus")
    (root / "kb").mkdir()
    for name in DOCUMENTS:  # a throwaway copy outside the repository
        shutil.copyfile(corpus / name, root / "kb" / name)
    minilm, e5 = make_embedder("minilm"), make_embedder("e5")
    update_index(root / "kb", root / "index", [minilm, e5])
    return root / "index", minilm, e5


def officer_questions(langs: tuple[str, ...]) -> list[tuple[str, object]]:
    rows = []
    for path in sorted(OFFICER_DIR.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], span_judge(r["source"], r["gold"])) for r in rows
            if r.get("kind") == "in_scope" and r["source"] in DOCUMENTS and r["lang"] in langs]


def first_hit_rate(retriever: Retriever, questions) -> float:
    return float(np.mean([bool(hits) and judge(hits[0].chunk) > 0
                          for q, judge in questions for hits in [retriever.search(q).hits]]))


@pytest.mark.model
def test_the_shipped_pipeline_puts_the_answer_first_more_often_than_the_one_before(small_corpus, monkeypatch):
    index, minilm, e5 = small_corpus
    questions = officer_questions(("en",))
    assert len(questions) >= 40
    shipped = first_hit_rate(Retriever(index, {"minilm": minilm, "e5": e5}), questions)
    monkeypatch.setattr(search, "with_english_terms", lambda text: (text, False))
    monkeypatch.setitem(search.FUSION_WEIGHTS, "minilm", 0.7)
    before = first_hit_rate(Retriever(index, {"minilm": SentenceTransformerEmbedder(), "e5": e5}, reranker=None),
                            questions)
    assert shipped > before, (shipped, before)
    assert shipped >= SHIPPED_FLOOR, (shipped, before)


@pytest.mark.model
def test_hindi_questions_reach_english_passages(small_corpus):
    index, minilm, e5 = small_corpus
    questions = officer_questions(("hi", "hinglish"))
    retriever = Retriever(index, {"minilm": minilm, "e5": e5})
    in_top5 = np.mean([any(judge(h.chunk) > 0 for h in retriever.search(q).hits[:5]) for q, judge in questions])
    assert in_top5 >= HINDI_TOP5_FLOOR


#: Measured: 24/43 first (0.558) against 21/43 (0.488) before; Hindi and Hinglish
#: questions with the answer in the top five: 14/15 (0.933).
SHIPPED_FLOOR = 0.53
HINDI_TOP5_FLOOR = 0.90
