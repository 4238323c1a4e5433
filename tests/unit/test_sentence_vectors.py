"""Sentence vectors stored at ingest: replies pick the same sentences without embedding them.

A passage longer than a reply's word budget is cut to its sentences closest to the
question. Their vectors are computed once per index version (incrementally, by sentence
text) instead of on every reply; an index built before falls back to embedding them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.knowledge.chunking import ranked_sentences
from bot.knowledge.gate import Gate
from bot.knowledge.index import current_version_dir, read_chunks, read_meta, update_index, validate_version
from bot.knowledge.search import Retriever
from bot.replies import compose_answer
from tests.conftest import FakeEmbedder, write

#: One section of 13 sentences (154 words): a single chunk (at most 160 words), longer than a
#: reply's budget (150 words).
TRANSFER_SENTENCES = [
    "An officer on transfer gets joining time to reach the new station.",
    "Joining time depends on the distance between the old and the new station.",
    "Six days are allowed when the distance is up to one thousand kilometres.",
    "Eight days are allowed for a distance above one thousand kilometres.",
    "Holidays that follow joining time may be added to it.",
    "The head of office may extend joining time in special cases.",
    "An officer who does not join within joining time draws no pay for the delay.",
    "Transfer travelling allowance covers the fare of the family as well.",
    "A lump sum composite transfer grant is paid once for each transfer.",
    "The grant equals one month of basic pay for a move to another station.",
    "No grant is paid for a transfer within the same city.",
    "An advance of the allowance may be drawn before the move.",
    "The advance is adjusted against the final bill after joining.",
]
TRANSFER_MODULE = "---\ntitle: \"Transfer rules\"\nlanguage: en\n---\n# Transfer rules\n\n## 1. Joining time and transfer allowance\n" \
    + " ".join(TRANSFER_SENTENCES) + "\n"
QUESTION = "how many days of joining time for a distance above one thousand kilometres"


@pytest.fixture
def long_kb(kb_dir: Path) -> Path:
    write(kb_dir / "modules" / "transfer.md", TRANSFER_MODULE)
    return kb_dir


def _retriever(index_dir: Path, embedder: FakeEmbedder) -> Retriever:
    return Retriever(index_dir, {"fake": embedder}, Gate({"fake": 0.0}), check_interval=0, reranker=None)


def _forget_sentence_vectors(index_dir: Path) -> None:
    """Make the live version look like one written before sentence vectors were stored."""
    version = current_version_dir(index_dir)
    meta = read_meta(version)
    del meta["sentences"]
    (version / "meta.json").write_text(json.dumps(meta))
    for path in version.glob("sentence*.npy"):
        path.unlink()


def _transfer_answer(retriever: Retriever) -> str:
    result = retriever.search(QUESTION)
    assert result.hits[0].chunk.source == "modules/transfer.md"
    return compose_answer(result, retriever).text


def test_the_long_passage_is_one_chunk_over_the_budget(long_kb: Path, tmp_path: Path, fake_embedder) -> None:
    update_index(long_kb, tmp_path / "idx", [fake_embedder])
    long = [c for c in read_chunks(current_version_dir(tmp_path / "idx")) if c.source == "modules/transfer.md"]
    assert len(long) == 1 and ranked_sentences(long[0].text) == TRANSFER_SENTENCES


def test_reply_picks_the_same_sentences_with_and_without_stored_vectors(long_kb, tmp_path, fake_embedder) -> None:
    report = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    assert report.embedded_sentences == len(TRANSFER_SENTENCES)  # only the long passage has any
    shutil.copytree(tmp_path / "idx", tmp_path / "old")
    _forget_sentence_vectors(tmp_path / "old")

    stored = _retriever(tmp_path / "idx", fake_embedder)
    stored.index  # noqa: B018 - load before counting calls
    calls = fake_embedder.embedded
    with_stored = _transfer_answer(stored)
    assert fake_embedder.embedded - calls == 0  # the query is embedded, no passage sentence is

    embedding = _retriever(tmp_path / "old", fake_embedder)
    calls = fake_embedder.embedded
    without = _transfer_answer(embedding)
    assert fake_embedder.embedded - calls == len(TRANSFER_SENTENCES)  # fallback: embedded at answer time

    assert with_stored == without
    assert "Eight days are allowed for a distance above one thousand kilometres." in with_stored
    assert " … " in with_stored  # it was cut, not quoted whole


def test_an_index_built_before_is_upgraded_without_re_embedding_passages(long_kb, tmp_path, fake_embedder) -> None:
    first = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    _forget_sentence_vectors(tmp_path / "idx")
    assert _retriever(tmp_path / "idx", fake_embedder).index.sentences is None
    fake_embedder.embedded = 0
    upgrade = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    assert upgrade.version != first.version and upgrade.embedded == 0
    assert fake_embedder.embedded == len(TRANSFER_SENTENCES)  # the sentences, not the chunks
    assert _retriever(tmp_path / "idx", fake_embedder).index.sentences is not None
    again = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    assert again.version == upgrade.version  # upgraded once, then nothing to do


def test_editing_one_sentence_embeds_that_sentence_only(long_kb, tmp_path, fake_embedder) -> None:
    update_index(long_kb, tmp_path / "idx", [fake_embedder])
    path = long_kb / "modules" / "transfer.md"
    path.write_text(path.read_text().replace("Six days", "Six (6) days"))
    report = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    assert report.changed == ["modules/transfer.md"] and report.embedded_sentences == 1
    edited = _transfer_answer(_retriever(tmp_path / "idx", fake_embedder))
    shutil.copytree(tmp_path / "idx", tmp_path / "old")
    _forget_sentence_vectors(tmp_path / "old")
    assert edited == _transfer_answer(_retriever(tmp_path / "old", fake_embedder))


def test_a_rename_and_other_documents_reuse_stored_sentences(long_kb, tmp_path, fake_embedder) -> None:
    update_index(long_kb, tmp_path / "idx", [fake_embedder])
    (long_kb / "modules" / "transfer.md").rename(long_kb / "modules" / "transfers.md")
    write(long_kb / "modules" / "new.md", "# New\n\nA short new note.\n")
    report = update_index(long_kb, tmp_path / "idx", [fake_embedder])
    assert report.renamed == [("modules/transfer.md", "modules/transfers.md")]
    assert report.embedded_sentences == 0
    validate_version(current_version_dir(tmp_path / "idx"))


def test_sentence_vectors_that_do_not_match_the_chunks_are_refused(long_kb, tmp_path, fake_embedder) -> None:
    import numpy as np

    from bot.knowledge.index import KnowledgeIndexError

    update_index(long_kb, tmp_path / "idx", [fake_embedder])
    version = current_version_dir(tmp_path / "idx")
    np.save(version / "sentence-offsets-fake.npy", np.zeros(2, dtype=np.int64))
    with pytest.raises(KnowledgeIndexError, match="sentence vectors"):
        validate_version(version)
    assert _retriever(tmp_path / "idx", fake_embedder).index.sentences is None  # served, replies embed
    assert _transfer_answer(_retriever(tmp_path / "idx", fake_embedder))


def test_each_passage_stores_the_embedder_its_own_language_is_ranked_with(long_kb, tmp_path) -> None:
    """MiniLM for an English passage, E5 for a Hindi one; a cross-script question embeds."""
    hindi = TRANSFER_MODULE.replace("language: en", "language: hi").replace("Transfer rules", "स्थानांतरण नियम")
    write(long_kb / "modules" / "transfer-hi.md", hindi)
    minilm, e5 = FakeEmbedder("minilm"), FakeEmbedder("e5")
    report = update_index(long_kb, tmp_path / "idx", [minilm, e5])
    assert report.embedded_sentences == 2 * len(TRANSFER_SENTENCES)  # each passage once, not twice
    retriever = Retriever(tmp_path / "idx", {"minilm": minilm, "e5": e5}, Gate({"minilm": 0.0, "e5": 0.0}),
                          check_interval=0, reranker=None)
    sentences = retriever.index.sentences
    rows = {c.source: row for row, c in enumerate(retriever.index.chunks)}
    assert sentences.get("minilm", rows["modules/transfer.md"]) is not None
    assert sentences.get("e5", rows["modules/transfer.md"]) is None
    assert sentences.get("e5", rows["modules/transfer-hi.md"]) is not None
    assert sentences.get("minilm", rows["modules/transfer-hi.md"]) is None

    result = retriever.search(QUESTION, sources=["modules/transfer.md"])
    calls = minilm.embedded + e5.embedded
    english = compose_answer(result, retriever).text
    assert minilm.embedded + e5.embedded == calls  # stored
    devanagari = retriever.search("एक हज़ार किलोमीटर से अधिक दूरी पर कितने दिन", sources=["modules/transfer.md"])
    calls = e5.embedded
    assert compose_answer(devanagari, retriever) is not None
    assert e5.embedded - calls == len(TRANSFER_SENTENCES)  # another script: embedded at reply time
    assert "Eight days are allowed" in english
