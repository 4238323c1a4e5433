"""Hybrid search, the evidence gate, and answer composition (fake embedder)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from bot.knowledge.chunking import Chunk
from bot.knowledge.gate import Gate
from bot.knowledge.index import KnowledgeIndexError, update_index
from bot.knowledge.search import Retriever
from bot.replies import compose_answer, full_passage, select_sentences, source_warnings
from tests.conftest import FakeEmbedder, write


@pytest.fixture
def retriever(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Retriever:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)


def test_search_ranks_the_passage_that_answers_first(retriever: Retriever) -> None:
    result = retriever.search("within how many days must the PIO reply to the request")
    assert result.answerable
    assert result.hits[0].chunk.anchor == "2. Time limits"
    contract = result.to_contract()
    assert set(contract) == {"query", "answerable", "hits"}
    assert set(contract["hits"][0]) == {"text", "source", "anchor", "score"}
    assert contract["hits"][0]["source"] == "modules/rti.md"


def test_gate_declines_when_nothing_is_close(retriever: Retriever) -> None:
    result = retriever.search("who won the cricket match yesterday")
    assert not result.answerable


@pytest.mark.parametrize("question", ["आरटीआई शुल्क", "ஆர்டிஐ கட்டணம்", "আরটিআই ফি", "ఆర్టీఐ రుసుము"])
def test_gate_ignores_english_only_model_for_questions_in_an_indian_script(question: str) -> None:
    gate = Gate({"minilm": 0.4, "e5": 0.85})
    assert gate.answerable({"minilm": 0.9, "e5": 0.80}, question) is False
    assert gate.answerable({"minilm": 0.9, "e5": 0.80}, "RTI fee") is True
    assert gate.answerable({"minilm": 0.1, "e5": 0.86}, question) is True


def test_sources_filter_restricts_hits(retriever: Retriever) -> None:
    result = retriever.search("days", sources=["modules/leave.md"])
    assert result.hits and all(h.chunk.source == "modules/leave.md" for h in result.hits)


def test_retriever_follows_new_versions_without_failing_queries(kb_dir, tmp_path, fake_embedder,
                                                                 retriever: Retriever) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                retriever.search("casual leave days in a year")
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(3):
            write(kb_dir / "modules" / f"extra{n}.md", f"# Extra {n}\n\nPostings are reviewed every {n + 2} years.\n")
            update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert any(h.chunk.source == "modules/extra2.md" for h in retriever.search("postings reviewed every 4 years").hits)


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeIndexError, match="kb ingest"):
        Retriever(tmp_path / "none").search("anything")


def test_answer_leads_with_text_then_citation(retriever: Retriever) -> None:
    result = retriever.search("what fee does an RTI applicant pay")
    answer = compose_answer(result, retriever)
    body, _, tail = answer.text.partition("\n\n📖 **Source:** ")
    assert "Rs. 10" in body
    assert tail.startswith("RTI for Public Information Officers — 1. Fees")
    assert answer.source == "modules/rti.md"


def test_answer_keeps_to_the_word_budget_and_quotes_the_source_verbatim(fake_embedder) -> None:
    sentences = [f"Rule {n} says the officer must file form {n} before the deadline." for n in range(40)]
    chunk = Chunk("x", "doc.md", "Doc", ["1. Forms"], "1. Forms", " ".join(sentences))
    retriever = Retriever(Path("/nonexistent"), {"fake": fake_embedder})
    query = fake_embedder.embed_queries(["form 7 deadline"])[0]
    text = select_sentences(chunk, query, retriever, "fake", max_words=40)
    assert len(text.replace("…", "").split()) <= 40
    for part in text.split(" … "):
        assert part.strip(" …") in chunk.text


def test_superseded_and_expired_sources_are_flagged() -> None:
    chunk = Chunk("x", "old.md", "LTC circular", [], "LTC circular", "Text.",
                  meta={"superseded_by": "ltc-basics", "expires": "2014-12-31", "effective": "2010-05-02"})
    warnings = source_warnings(chunk, "en", today=dt.date(2026, 1, 1))
    assert any("superseded" in w for w in warnings)
    assert any("31 December 2014" in w for w in warnings)
    hindi = source_warnings(chunk, "hi", today=dt.date(2026, 1, 1))
    assert any("प्रतिस्थापित" in w for w in hindi)


def test_full_passage_shows_everything_with_citation(retriever: Retriever) -> None:
    hit = retriever.search("earned leave credited in advance").hits[0]
    text = full_passage(hit.chunk)
    assert hit.chunk.text in text and "📖 **Source:**" in text


def test_the_learners_role_picks_the_document_that_binds_them(tmp_path: Path, fake_embedder) -> None:
    """Two documents disagree (each binds other officers): a known role reads its own, always."""
    from bot.knowledge.index import update_index
    from tests.conftest import write

    kb = tmp_path / "kb"
    write(kb / "ais-leave.md", "---\ntitle: AIS leave\napplies_to: [ias-officer]\n---\n"
          "# Earned leave\nEarned leave for All India Services officers is 30 days a year.\n")
    write(kb / "css-leave.md", "---\ntitle: CSS leave\napplies_to: section-officer, assistant-section-officer\n---\n"
          "# Earned leave\nEarned leave for Central Secretariat officers is 30 days a year, credited twice.\n")
    write(kb / "general.md", "# Casual leave\nCasual leave is 8 days a year for every officer.\n")
    update_index(kb, tmp_path / "index", [fake_embedder])
    retriever = Retriever(tmp_path / "index", {"fake": fake_embedder}, reranker=None)
    question = "how many days of earned leave a year"
    for role, own, other in [("ias-officer", "ais-leave.md", "css-leave.md"),
                             ("section-officer", "css-leave.md", "ais-leave.md")]:
        sources = [h.chunk.source for h in retriever.search(question, role=role, k=5).hits]
        assert sources[0] == own and other not in sources
    anyone = {h.chunk.source for h in retriever.search(question, k=5).hits}
    assert {"ais-leave.md", "css-leave.md"} <= anyone  # role unknown: both, each with its citation
    # A role bound by neither still gets the material rather than nothing.
    assert retriever.search(question, role="under-secretary", k=5).hits


def test_loaded_vectors_are_faiss_own_storage_not_a_second_copy(kb_dir, tmp_path, fake_embedder) -> None:
    import faiss
    import numpy as np

    from bot.knowledge.index import current_version_dir
    from bot.knowledge.search import LoadedIndex, stored_vectors

    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    live = current_version_dir(tmp_path / "idx")
    saved = np.load(live / f"vectors-{fake_embedder.name}.npy")

    loaded = LoadedIndex(live)
    vectors = loaded.vectors[fake_embedder.name]

    # The same float32 rows as written, so exact cosines (and rankings) are unchanged.
    assert vectors.dtype == np.float32 and np.array_equal(vectors, saved)
    assert not isinstance(vectors, np.memmap) and not vectors.flags.writeable
    # A view of the FAISS index's memory: what FAISS holds is what the rescoring reads.
    storage = faiss.rev_swig_ptr(loaded.faiss[fake_embedder.name].get_xb(), vectors.size)
    assert np.shares_memory(vectors, storage)
    # An index that is not flat keeps the memory-mapped file.
    quantised = faiss.IndexScalarQuantizer(saved.shape[1], faiss.ScalarQuantizer.QT_fp16)
    assert isinstance(stored_vectors(quantised, live / f"vectors-{fake_embedder.name}.npy"), np.memmap)
