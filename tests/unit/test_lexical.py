"""The project's incremental BM25 index: same scores as bm25s, and updates that copy rows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.knowledge.lexical import LexicalIndex

WORDS = ("rti fee information officer appeal leave casual earned pension gratuity section rule "
         "सूचना शुल्क अपील अवकाश पेंशन नियम धारा tour allowance travel claim").split()


def _corpus(seed: int, size: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS) for _ in range(rng.randint(1, 40))] for _ in range(size)]


def _bm25s_scores(corpus: list[list[str]], query: list[str]) -> np.ndarray:
    import bm25s

    reference = bm25s.BM25()  # method="lucene", k1=1.5, b=0.75: the defaults we mirror
    reference.index(corpus, show_progress=False)
    return reference.get_scores(query)


@pytest.mark.parametrize("query", [["rti", "fee"], ["सूचना", "शुल्क", "शुल्क"], ["pension"], ["nowhere"]])
def test_scores_equal_the_bm25s_reference(query):
    corpus = _corpus(1, 300)
    ours = LexicalIndex.build(corpus).get_scores(query)
    known = [t for t in query if t in WORDS]
    expected = _bm25s_scores(corpus, known) if known else np.zeros(len(corpus))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_incremental_build_scores_like_a_fresh_build(tmp_path):
    corpus = _corpus(2, 200)
    first = LexicalIndex.build(corpus)
    first.save(tmp_path / "v1")
    previous = LexicalIndex.load(tmp_path / "v1")
    # Edit: drop rows 0-9, change row 50, add two new rows, and reorder what stays.
    edited = list(corpus[10:])
    edited[40] = ["gratuity", "brand-new-term", "gratuity"]
    edited += [["tour", "allowance"], []]
    rows: list[int | list[str]] = [i + 10 for i in range(len(corpus) - 10)]
    rows[40] = edited[40]
    rows += [edited[-2], edited[-1]]
    rows = rows[::-1]
    edited = edited[::-1]
    incremental = LexicalIndex.build(rows, previous)
    fresh = LexicalIndex.build(edited)
    for query in (["gratuity"], ["brand-new-term"], ["tour", "allowance", "rti"], ["∅"]):
        np.testing.assert_allclose(incremental.get_scores(query), fresh.get_scores(query), rtol=1e-6)
    assert "brand-new-term" in incremental and "missing" not in incremental


def test_removed_terms_leave_the_vocabulary_and_are_compacted():
    words = [[f"term{i}", "common"] for i in range(3000)]
    index = LexicalIndex.build(words)
    assert "term5" in index
    shrunk = LexicalIndex.build([0, 1], index)  # keep the first two rows only
    assert "term5" not in shrunk and "term1" in shrunk
    assert len(shrunk.vocab_list) < 100  # dead terms dropped once they are the majority
    assert shrunk.get_scores(["term1"])[1] > 0 and shrunk.get_scores(["term1"])[0] == 0


def test_inconsistent_files_are_refused(tmp_path):
    LexicalIndex.build(_corpus(3, 20)).save(tmp_path / "lex")
    np.save(tmp_path / "lex" / "counts.npy", np.ones(3, dtype=np.int32))
    with pytest.raises(ValueError, match="disagree"):
        LexicalIndex.load(tmp_path / "lex")


def test_an_empty_index_scores_nothing(tmp_path):
    index = LexicalIndex.build([])
    index.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert loaded.size == 0 and len(loaded.get_scores(["rti"])) == 0 and "rti" not in loaded


def test_an_index_loaded_for_search_scores_the_same_without_its_rows(tmp_path) -> None:
    corpus = _corpus(11, 200)
    LexicalIndex.build(corpus).save(tmp_path / "lexical")
    full = LexicalIndex.load(tmp_path / "lexical")

    searching = LexicalIndex.load(tmp_path / "lexical").for_search()

    for query in (["rti", "fee"], ["सूचना", "शुल्क", "शुल्क"], ["pension"], ["nowhere"]):
        assert np.array_equal(searching.get_scores(query), full.get_scores(query))
    assert ("rti" in searching) == ("rti" in full) and searching.size == full.size == 200
    assert searching.cooccur("rti", "fee") == full.cooccur("rti", "fee")
    # The by-chunk rows are gone: saving it, or building the next version from it, says so.
    with pytest.raises(RuntimeError, match="searching only"):
        searching.save(tmp_path / "again")
    with pytest.raises(RuntimeError, match="searching only"):
        LexicalIndex.build([0, ["rti"]], searching)  # row 0 copied from it
