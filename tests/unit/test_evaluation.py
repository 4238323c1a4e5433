"""The evaluation harness: metrics, judges, the pipelines on a tiny index, the report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.evaluation import report as reporting
from bot.evaluation.metrics import contains_answer, hit_at, mrr_at, ndcg_at, normalise_text, summarise
from bot.evaluation.runner import PIPELINES, CachedEmbedder, evaluate_set
from bot.evaluation.sets import EvalSet, Query, _stable_sample, constitution_judge, kb_judge, load_set
from bot.evaluation.transliteration import to_devanagari
from bot.knowledge.chunking import Chunk
from bot.knowledge.gate import Gate
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever
from tests.conftest import FakeEmbedder


def chunk(source: str = "modules/rti.md", headings: list[str] | None = None, text: str = "") -> Chunk:
    return Chunk(id="x", source=source, title="T", heading_path=headings or [], anchor="", text=text)


def test_ranking_metrics() -> None:
    gains = [0, 0, 1, 0, 1]
    assert hit_at(gains, 1) == 0 and hit_at(gains, 3) == 1 and hit_at([], 5) == 0
    assert mrr_at(gains, 10) == pytest.approx(1 / 3)
    assert mrr_at(gains, 2) == 0
    assert ndcg_at([3, 2], [3, 2], 10) == pytest.approx(1.0)
    swapped = ndcg_at([2, 3], [3, 2], 10)
    expected = (3 + 7 / math.log2(3)) / (7 + 3 / math.log2(3))
    assert swapped == pytest.approx(expected)
    assert ndcg_at([0, 0], [], 10) == 0.0
    assert summarise([{"a": 1.0}, {"a": 0.0}]) == {"a": 0.5}


def test_answer_matching_is_robust_to_ligatures_and_chunk_boundaries() -> None:
    answer = "Any person, consumer or their association can ﬁle Information before the Commission."
    assert normalise_text("ﬁle  Information!") == "file information"
    assert contains_answer("Q: who? Any person, consumer or their association can file information before the "
                           "Commission. More text.", answer)
    long_answer = " ".join(f"word{i}" for i in range(200))
    middle = " ".join(f"word{i}" for i in range(60, 140))
    assert contains_answer(middle, long_answer)  # a chunk lying inside a long answer counts
    assert not contains_answer("something else entirely about pensions and gratuity rules", answer)


def test_constitution_judge_matches_articles_and_schedule_paragraphs_exactly() -> None:
    judge = constitution_judge("Article 21")
    src = "constitution-of-india-2024.md"
    assert judge(chunk(src, ["PART III", "Article 21 (Protection of life and personal liberty)"])) == 1
    assert judge(chunk(src, ["PART III", "Article 21A (Right to education)"])) == 0
    assert judge(chunk("other.md", ["Article 21 (x)"])) == 0
    para = constitution_judge("Sixth Schedule para 3")
    assert para(chunk(src, ["SIXTH SCHEDULE", "Article 3 (Powers of the District Councils)"])) == 1
    assert para(chunk(src, ["SEVENTH SCHEDULE", "Article 3 (x)"])) == 0
    assert constitution_judge("First Schedule")(chunk(src, ["FIRST SCHEDULE", "I. THE STATES"])) == 1


def test_kb_judge_accepts_alternatives() -> None:
    judge = kb_judge({"source": "modules/rti.md", "heading": "1. Fees",
                      "also": [{"source": "modules/rti-hi.md", "heading": "3. शुल्क"}]})
    assert judge(chunk("modules/rti.md", ["RTI", "1. Fees"])) == 1
    assert judge(chunk("modules/rti-hi.md", ["3. शुल्क"])) == 1
    assert judge(chunk("modules/rti.md", ["2. Time limits"])) == 0


def test_stable_sample_is_deterministic_and_keeps_order() -> None:
    items = list(range(100))
    first = _stable_sample(items, str, 10)
    assert first == _stable_sample(items, str, 10) and first == sorted(first) and len(first) == 10


@pytest.fixture
def two_model_retriever(kb_dir: Path, tmp_path: Path) -> Retriever:
    embedders = [FakeEmbedder("minilm"), FakeEmbedder("e5", dim=48)]
    update_index(kb_dir, tmp_path / "idx", embedders)
    cached = {e.name: CachedEmbedder(e, tmp_path / f"{e.name}.npz") for e in embedders}
    return Retriever(tmp_path / "idx", cached, Gate({"minilm": 0.3, "e5": 0.3}), check_interval=0)


def test_all_pipelines_run_on_the_same_chunks(two_model_retriever: Retriever) -> None:
    def anchor_is(anchor: str):
        return lambda c: 1.0 if c.anchor == anchor else 0.0
    eval_set = EvalSet("tiny", "kb", [
        Query("within how many days must the PIO reply", anchor_is("2. Time limits")),
        Query("casual leave days in a calendar year", anchor_is("1. Casual leave")),
    ])
    result = evaluate_set(eval_set, two_model_retriever, ["hybrid", "bm25", "minilm", "e5"])
    assert set(result["pipelines"]) == {"hybrid", "bm25", "minilm", "e5"}
    for metrics in result["pipelines"].values():
        assert metrics["hit@10"] == 1.0  # four chunks: everything is found within 10
    assert result["pipelines"]["bm25"]["hit@1"] == 1.0
    text = reporting.render_text({"sets": [result]})
    assert "hybrid" in text and "tiny" in text
    markdown = reporting.render_markdown({"sets": [result], "gate": {}})
    assert markdown.startswith("| set | n | pipeline |")


def test_query_vectors_are_cached_on_disk(tmp_path: Path) -> None:
    inner = FakeEmbedder("e5")
    cached = CachedEmbedder(inner, tmp_path / "q.npz")
    first = cached.embed_queries(["rti fee", "leave"])
    cached.save()
    again = CachedEmbedder(FakeEmbedder("e5"), tmp_path / "q.npz")
    assert (again.embed_queries(["rti fee"])[0] == first[0]).all()
    assert again.inner.calls == 0 and not again._dirty


def test_every_labelled_question_points_at_a_real_section_of_the_knowledge_base() -> None:
    """A typo in a gold heading would silently count as a retrieval miss in `make eval`."""
    from bot.config import PROJECT_ROOT
    from bot.evaluation.sets import kb_judge, kb_questions
    from bot.knowledge.chunking import chunk_document
    from bot.knowledge.documents import load_document

    kb = PROJECT_ROOT / "knowledge_base"
    chunks = [c for path in sorted((kb / "modules").glob("*.md")) for c in chunk_document(load_document(path, kb))]
    questions = kb_questions()
    unmatched = [item["question"] for item in questions["in_scope"] if not any(map(kb_judge(item), chunks))]
    assert not unmatched
    assert {item["split"] for item in questions["in_scope"] + questions["out_of_scope"]} == {"dev", "test"}
    texts = [item["question"] for item in questions["in_scope"] + questions["out_of_scope"]]
    assert len(texts) == len(set(texts)), "a question is labelled twice"


def test_without_shared_the_evaluation_says_what_is_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    from bot.evaluation import __main__ as evaluation
    from bot.evaluation import sets

    monkeypatch.setattr(sets, "SHARED", tmp_path / "shared")
    assert sets.missing_shared(["kb", "cghs", "newdocs", "milpac-ta"]) == ["cghs", "milpac-ta"]
    assert evaluation.main(["--sets", "cghs,officer-en", "--state", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert "shared" in err and "is missing: skipping cghs, officer-en" in err and "--sets kb,newdocs" in err


def test_romanised_hindi_is_written_in_devanagari_keeping_acronyms_and_numbers() -> None:
    assert to_devanagari("mujhe RTI ke niyam batao") == "मुझे RTI के नियम् बतओ"
    assert to_devanagari("30 din mein LTC") == "30 दिन् मेइन् LTC"


def test_the_romanised_sets_hold_only_romanised_hindi_and_the_native_pipelines_run_only_there() -> None:
    kb_hinglish = load_set("kb-hinglish")
    assert kb_hinglish.queries and {q.lang for q in kb_hinglish.queries} == {"hinglish"}
    assert len(kb_hinglish.queries) < len(load_set("kb").queries)
    assert {"hybrid-native", "e5-native"} <= set(PIPELINES)


def test_new_documents_are_also_measured_added_to_the_course(tmp_path: Path) -> None:
    """``newdocs-course``: the course modules and the new documents in one index, as a trainer adds a module."""
    from bot.evaluation import sets

    folder = sets.INDEXES["newdocs-course"].folder(tmp_path)
    course = {p.relative_to(sets.PROJECT_ROOT / "knowledge_base")
              for p in (sets.PROJECT_ROOT / "knowledge_base").rglob("*") if p.is_file()}
    new = {p.relative_to(sets.NEW_DOCS_DIR) for p in sets.NEW_DOCS_DIR.rglob("*") if p.is_file()}
    assert course and new and {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()} == course | new
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    (folder / "modules" / "withdrawn.md").write_text("# A module the trainers have since removed\n")
    sets.INDEXES["newdocs-course"].folder(tmp_path)  # again: nothing rewritten, so nothing re-indexed
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == stamps

    alone, added = load_set("newdocs"), load_set("newdocs-course")
    assert (alone.index, added.index) == ("newdocs", "newdocs-course")
    assert [q.text for q in added.queries] == [q.text for q in alone.queries]

    embedders = [FakeEmbedder("minilm"), FakeEmbedder("e5", dim=48)]
    update_index(folder, tmp_path / "idx", embedders)
    retriever = Retriever(tmp_path / "idx", {e.name: e for e in embedders}, Gate({"minilm": 0.3, "e5": 0.3}),
                          check_interval=0, reranker=None)
    indexed = {chunk.source.split("/")[0] for chunk in retriever.index.chunks}
    assert {"modules", "ccs-conduct-rules-1964.md"} <= indexed


def test_a_pdf_or_docx_module_is_mirrored_into_newdocs_course_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    """A trainer's module need not be text: the mirror copies bytes, and a second run rewrites nothing."""
    from bot.evaluation import sets

    root = tmp_path / "project"
    pdf = b"%PDF-1.4\n\xe2\xe3\xcf\xd3\n%%EOF\n"  # the binary marker line of real PDFs is not UTF-8
    (root / "knowledge_base" / "modules").mkdir(parents=True)
    (root / "knowledge_base" / "modules" / "circular.pdf").write_bytes(pdf)
    monkeypatch.setattr(sets, "PROJECT_ROOT", root)

    folder = sets.INDEXES["newdocs-course"].folder(tmp_path / "state")
    assert (folder / "modules" / "circular.pdf").read_bytes() == pdf
    stamp = (folder / "modules" / "circular.pdf").stat().st_mtime_ns
    sets.INDEXES["newdocs-course"].folder(tmp_path / "state")
    assert (folder / "modules" / "circular.pdf").stat().st_mtime_ns == stamp
