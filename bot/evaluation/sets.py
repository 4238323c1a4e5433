"""The evaluation sets: where their passages come from and how a hit is judged.

Every set is retrieved over an index built by the project's own loader, chunker
and index (:func:`bot.knowledge.index.update_index`), so the chunks are the ones
the tutor would serve. A set names its index (several sets share the corpus
index) and gives, per query, a ``judge`` that returns the relevance gain of a
retrieved chunk.

- ``kb``: our labelled questions (``tests/data/kb_questions.yml``) over
  ``knowledge_base/``; a chunk is relevant when it lies in the gold document under
  the gold heading (or one of the ``also`` alternatives).
- ``constitution``: ``../shared/eval/qa/constitution_qa_with_gold_article.jsonl``
  (``match_coverage >= 0.5`` and not ``tie``) over ``../shared/corpus``; a chunk is
  relevant when its heading path names the gold article / schedule paragraph.
  A deterministic subsample (by hash of ``qid``) keeps the run short.
- ``cghs``, ``pension``, ``training``: the FAQ sets over ``../shared/corpus`` (the
  whole corpus, not only the FAQ's own document); relevant = the chunk contains the
  gold answer text (normalised). Pension rows with ``answer_ok == false`` (a table
  lost in conversion) are skipped.
- ``milpac-hi`` / ``milpac-en``: MILPaC bilingual FAQs (CCI and IP); the English
  answers are indexed, one document per answer, and queried with the Hindi
  (resp. English) questions; relevant = a chunk of the gold answer's document.
- ``milpac-<lang>`` for ``bn, ta, te, mr, gu, ml, or, pa`` (and ``milpac-multi-hi``): the
  MILPaC multi-language FAQs (``milpac_{ip,cci}_faq_qa_multi.jsonl``: the IP set in nine
  Indian languages, the CCI set in hi, bn, ta and mr) asked in that language over the same
  index of English answers; relevant = a chunk of the gold answer's document.
- ``cranfield``: the BEIR-format Cranfield collection, one document per abstract,
  graded qrels (nDCG@10 reported too).
- ``officer-en`` / ``officer-hi``: the team's blind officer-style questions over
  ``../shared/corpus`` (``tests/data/officer_eval/``, written before the reranker was
  tuned and never trained on); relevant = a chunk of the gold document containing one of
  the verbatim gold spans. ``officer-en-seen`` / ``officer-en-unseen`` split the English
  ones by whether the reranker's training used their document
  (:data:`bot.evaluation.splits.HELD_OUT`).
- ``newdocs``: questions over three documents the team wrote only for this test
  (``tests/data/unseen_docs/``: Acts and rules in neither ``knowledge_base/`` nor the
  corpus, nor any labelled gate question), indexed on their own: a trainer's new module.
  ``newdocs-course``: the same questions with the documents added to ``knowledge_base/``,
  as a trainer adds a module (the course modules become distractors).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT
from bot.evaluation.metrics import contains_answer
from bot.knowledge.chunking import Chunk

SHARED = PROJECT_ROOT.parent / "shared"
QUESTIONS = PROJECT_ROOT / "tests" / "data" / "kb_questions.yml"
OFFICER_DIR = PROJECT_ROOT / "tests" / "data" / "officer_eval"
NEW_DOCS_DIR = PROJECT_ROOT / "tests" / "data" / "unseen_docs"
NEW_DOCS_QUESTIONS = PROJECT_ROOT / "tests" / "data" / "unseen_docs_questions.jsonl"

Judge = Callable[[Chunk], float]


@dataclass
class Query:
    """One evaluation question."""

    text: str
    judge: Judge
    lang: str = "en"
    split: str = ""
    ideal: list[float] = field(default_factory=lambda: [1.0])  # gains of all relevant items (nDCG)
    qid: str = ""


@dataclass
class EvalSet:
    """A named query set over one index.

    ``unit`` is ``chunk`` (each relevant chunk counts) or ``source`` (results are
    de-duplicated by document first: the documents are the judged items).
    """

    name: str
    index: str
    queries: list[Query]
    unit: str = "chunk"
    english: bool = True
    graded: bool = False
    note: str = ""


@dataclass
class IndexSpec:
    """Where an index's documents come from: a folder, generated on first use if needed."""

    name: str
    folder: Callable[[Path], Path]  # state dir -> knowledge folder to index


def _stable_sample(items: list, key: Callable, n: int | None) -> list:
    """A deterministic subsample: the ``n`` items with the smallest key hash, in original order."""
    if n is None or len(items) <= n:
        return items
    ranked = sorted(range(len(items)), key=lambda i: hashlib.sha1(str(key(items[i])).encode()).hexdigest())
    keep = set(ranked[:n])
    return [item for i, item in enumerate(items) if i in keep]


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_if_changed(path: Path, content: str | bytes) -> None:
    """Write only when the content differs, so the incremental index sees no change.

    Text is written as UTF-8; bytes as they are (a PDF or DOCX module copied verbatim).
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ---------------------------------------------------------------- indexes
def _kb_folder(_: Path) -> Path:
    return PROJECT_ROOT / "knowledge_base"


def _corpus_folder(_: Path) -> Path:
    return SHARED / "corpus"


def _new_docs_in_course_folder(state: Path) -> Path:
    """``knowledge_base/`` with the new documents added, as a trainer adds a module.

    Indexed alone, three documents make a tiny index (few distractors, a small
    vocabulary for BM25 and the gate's coverage features); beside the course modules
    the new documents are searched the way the tutor would search them.
    """
    folder = state / "newdocs-course-docs"
    wanted = set()
    for source in (PROJECT_ROOT / "knowledge_base", NEW_DOCS_DIR):
        for path in sorted(source.rglob("*")):
            if path.is_file():
                wanted.add(target := folder / path.relative_to(source))
                _write_if_changed(target, path.read_bytes())  # PDF and DOCX modules too
    for stale in [p for p in folder.rglob("*") if p.is_file() and p not in wanted]:
        stale.unlink()  # a module removed from knowledge_base/ since the last run
    return folder


def _milpac_rows() -> list[dict]:
    rows = []
    for name in ("cci", "ip"):
        for row in _jsonl(SHARED / "eval" / "multilingual" / f"milpac_{name}_faq_qa_en_hi.jsonl"):
            if row.get("answer_en") and row.get("question_hi") and row.get("question_en"):
                rows.append({**row, "doc": f"{name}-{_slug(row['id'])}.md"})
    return rows


#: Languages of the multi-language MILPaC questions (ISO 639-1; ``or`` is Odia).
MULTI_LANGUAGES = ("hi", "bn", "ta", "te", "mr", "gu", "ml", "or", "pa")


def _milpac_multi_rows(lang: str) -> list[dict]:
    """Multi-language rows with a question in ``lang`` whose answer the milpac index holds."""
    indexed = {row["doc"] for row in _milpac_rows()}
    rows = []
    for name in ("cci", "ip"):
        for row in _jsonl(SHARED / "eval" / "multilingual" / f"milpac_{name}_faq_qa_multi.jsonl"):
            doc = f"{name}-{_slug(row['id'])}.md"
            if (row.get(f"question_{lang}") or "").strip() and doc in indexed:
                rows.append({**row, "doc": doc})
    return rows


def _milpac_folder(state: Path) -> Path:
    folder = state / "docs" / "milpac"
    for row in _milpac_rows():
        # The title carries no words of the question: only the answer is evidence.
        _write_if_changed(folder / row["doc"], f"---\ntitle: \"FAQ answer {row['doc'][:-3]}\"\nlanguage: en\n---\n\n"
                                               f"{row['answer_en'].strip()}\n")
    return folder


def _cranfield_folder(state: Path) -> Path:
    folder = state / "docs" / "cranfield"
    for row in _jsonl(SHARED / "eval" / "cranfield" / "corpus.jsonl"):
        title = (row.get("title") or "").strip().replace('"', "'") or f"Cranfield {row['_id']}"
        _write_if_changed(folder / f"{_slug(row['_id'])}.md",
                          f"---\ntitle: \"{title}\"\nlanguage: en\n---\n\n{row['text'].strip()}\n")
    return folder


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(value))


INDEXES = {
    "kb": IndexSpec("kb", _kb_folder),
    "newdocs": IndexSpec("newdocs", lambda _: NEW_DOCS_DIR),
    "newdocs-course": IndexSpec("newdocs-course", _new_docs_in_course_folder),
    "corpus": IndexSpec("corpus", _corpus_folder),
    "milpac": IndexSpec("milpac", _milpac_folder),
    "cranfield": IndexSpec("cranfield", _cranfield_folder),
}


# ---------------------------------------------------------------- query sets
def kb_questions(path: Path = QUESTIONS) -> dict[str, list[dict]]:
    """The labelled questions: ``{"in_scope": [...], "out_of_scope": [...]}``."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _norm_heading(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def kb_judge(item: dict) -> Judge:
    """Relevant when the chunk is in the gold document under the gold heading (or an ``also``)."""
    gold = [(item["source"], _norm_heading(item["heading"]))]
    gold += [(a["source"], _norm_heading(a["heading"])) for a in item.get("also") or []]

    def judge(chunk: Chunk) -> float:
        path = {_norm_heading(h) for h in chunk.heading_path}
        return 1.0 if any(chunk.source == s and h in path for s, h in gold) else 0.0

    return judge


def load_kb(limit: int | None = None, langs: tuple[str, ...] | None = None) -> EvalSet:
    """The labelled in-scope questions over ``knowledge_base/`` (en, hi, Hinglish), or those in ``langs``."""
    items = [i for i in kb_questions()["in_scope"] if langs is None or i.get("lang", "en") in langs]
    queries = [Query(i["question"], kb_judge(i), i.get("lang", "en"), i.get("split", ""), qid=i["question"])
               for i in items]
    name = "kb" if langs is None else f"kb-{'-'.join(langs)}"
    return EvalSet(name, "kb", _stable_sample(queries, lambda q: q.qid, limit), english=False,
                   note=f"labelled questions over knowledge_base/ ({', '.join(langs or ('en', 'hi', 'hinglish'))})")



def constitution_judge(gold_unit: str) -> Judge:
    """Relevant when the chunk's heading path names the gold article or schedule paragraph."""
    article = re.fullmatch(r"Article (\d+[A-Z]*)", gold_unit)
    schedule = re.fullmatch(r"(\w+) Schedule(?: para (\d+[A-Z]*))?", gold_unit)

    def judge(chunk: Chunk) -> float:
        if not chunk.source.startswith("constitution"):
            return 0.0
        path = chunk.heading_path
        if article:
            pattern = re.compile(rf"^(?:\[?\s*)?Article {re.escape(article.group(1))}(?![0-9A-Z])", re.I)
            return 1.0 if any(pattern.search(h) for h in path) else 0.0
        if schedule:
            name = f"{schedule.group(1)} schedule".lower()
            in_schedule = any(name in h.lower() for h in path)
            if not in_schedule:
                return 0.0
            if schedule.group(2) is None:
                return 1.0
            para = re.compile(rf"^(?:Article |Rule |Section )?{re.escape(schedule.group(2))}(?![0-9A-Z])")
            return 1.0 if any(para.search(h) for h in path) else 0.0
        return 0.0

    return judge


def load_constitution(limit: int | None = 300) -> EvalSet:
    """Constitution questions judged by their gold article (a stable sample of ``limit``)."""
    rows = [r for r in _jsonl(SHARED / "eval" / "qa" / "constitution_qa_with_gold_article.jsonl")
            if r.get("gold_unit") and r.get("match_coverage", 0) >= 0.5 and not r.get("tie")]
    rows = _stable_sample(rows, lambda r: r["qid"], limit)
    queries = [Query(r["question"], constitution_judge(r["gold_unit"]), qid=r["qid"]) for r in rows]
    return EvalSet("constitution", "corpus", queries,
                   note=f"{len(queries)} rows (deterministic subsample by qid hash) of coverage>=0.5, no tie")


def answer_judge(answer: str) -> Judge:
    """A judge that scores a chunk 1 when it contains ``answer``, else 0."""
    return lambda chunk: 1.0 if contains_answer(chunk.text, answer) else 0.0


def load_faq(name: str, filename: str, limit: int | None = None) -> EvalSet:
    """A shared FAQ set over the whole corpus; a hit is a chunk containing the answer."""
    rows = [r for r in _jsonl(SHARED / "eval" / "qa" / filename) if r.get("answer_ok", True) is not False]
    rows = _stable_sample(rows, lambda r: r["qid"], limit)
    queries = [Query(r["question"], answer_judge(r["answer"]), qid=r["qid"]) for r in rows]
    return EvalSet(name, "corpus", queries, note=f"{filename} over the whole corpus; hit = chunk contains the answer")


def load_milpac(lang: str, limit: int | None = None) -> EvalSet:
    """MILPaC FAQs asked in ``lang`` (``en`` or ``hi``); a hit is a chunk of the answer's document."""
    rows = _stable_sample(_milpac_rows(), lambda r: r["doc"], limit)
    queries = [Query(r[f"question_{lang}"], _source_judge(f"{r['doc']}"), lang=lang, qid=r["doc"]) for r in rows]
    return EvalSet(f"milpac-{lang}", "milpac", queries, unit="source", english=lang == "en",
                   note=f"MILPaC CCI+IP FAQs: {'Hindi' if lang == 'hi' else 'English'} questions -> English answers")


def load_milpac_multi(lang: str, limit: int | None = None) -> EvalSet:
    """MILPaC multi-language FAQs asked in ``lang``; a hit is a chunk of the answer's document."""
    rows = _stable_sample(_milpac_multi_rows(lang), lambda r: r["doc"], limit)
    queries = [Query(r[f"question_{lang}"], _source_judge(r["doc"]), lang=lang, qid=r["doc"]) for r in rows]
    name = "milpac-multi-hi" if lang == "hi" else f"milpac-{lang}"
    return EvalSet(name, "milpac", queries, unit="source", english=False,
                   note=f"MILPaC multi-language FAQs: questions in {lang} -> English answers")


def _source_judge(source: str) -> Judge:
    return lambda chunk: 1.0 if chunk.source == source else 0.0


def load_cranfield(limit: int | None = None) -> EvalSet:
    """The Cranfield collection with its graded relevance judgements."""
    base = SHARED / "eval" / "cranfield"
    qrels: dict[str, dict[str, float]] = {}
    with open(base / "qrels" / "test.tsv", encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            qid, doc, score = line.split()
            if float(score) > 0:
                qrels.setdefault(qid, {})[f"{_slug(doc)}.md"] = float(score)
    queries = []
    for row in _jsonl(base / "queries.jsonl"):
        gold = qrels.get(str(row["_id"]))
        if not gold:
            continue
        queries.append(Query(row["text"], (lambda g: lambda chunk: g.get(chunk.source, 0.0))(gold),
                             ideal=list(gold.values()), qid=str(row["_id"])))
    return EvalSet("cranfield", "cranfield", _stable_sample(queries, lambda q: q.qid, limit), unit="source",
                   graded=True, note="BEIR Cranfield, graded qrels")


def span_judge(source: str, gold: list[str]) -> Judge:
    """Relevant when the chunk is in the gold document and contains one of the gold spans."""
    return lambda chunk: 1.0 if chunk.source == source and any(contains_answer(chunk.text, g) for g in gold) else 0.0


def officer_rows(kind: str = "in_scope") -> list[dict]:
    """The officer-style questions of ``tests/data/officer_eval/`` of one kind."""
    rows: list[dict] = []
    for path in sorted(OFFICER_DIR.glob("*.jsonl")):
        rows += [r for r in _jsonl(path) if r.get("kind", "in_scope") == kind]
    return rows


def load_officer(langs: tuple[str, ...], seen: bool | None = None, name: str = "officer-en") -> EvalSet:
    """Officer-style in-scope questions in ``langs``; ``seen`` keeps only documents the
    reranker was (True) or was not (False) trained on."""
    from bot.evaluation.splits import HELD_OUT

    rows = [r for r in officer_rows() if r["lang"] in langs]
    if seen is not None:
        rows = [r for r in rows if (r["source"] not in HELD_OUT) == seen]
    queries = [Query(r["question"], span_judge(r["source"], r["gold"]), r["lang"],
                     "unseen" if r["source"] in HELD_OUT else "seen", qid=r["id"]) for r in rows]
    return EvalSet(name, "corpus", queries, english=langs == ("en",),
                   note="blind officer-style questions over the corpus; hit = gold document chunk with a gold span")


def load_new_docs(index: str = "newdocs") -> EvalSet:
    """Questions about documents written only for this test (never trained or calibrated on).

    Args:
        index: ``newdocs`` (the documents indexed alone) or ``newdocs-course`` (added to
            ``knowledge_base/``, see :func:`_new_docs_in_course_folder`).
    """
    rows = [r for r in _jsonl(NEW_DOCS_QUESTIONS) if r.get("kind", "in_scope") == "in_scope"]
    queries = [Query(r["question"], span_judge(r["source"], r["gold"]), r["lang"], qid=r["id"]) for r in rows]
    where = "indexed alone" if index == "newdocs" else "added to knowledge_base/"
    return EvalSet(index, index, queries,
                   note=f"documents written only for this test, never trained or calibrated on, {where}")


SET_NAMES = ["officer-en", "officer-en-seen", "officer-en-unseen", "officer-hi", "officer-hinglish", "newdocs",
             "newdocs-course",
             "kb", "kb-hinglish", "constitution", "cghs", "pension", "training", "milpac-hi", "milpac-en",
             "milpac-multi-hi", *(f"milpac-{lang}" for lang in MULTI_LANGUAGES[1:]), "cranfield"]


#: Sets built only from this repository; every other set reads ``../shared``.
LOCAL_SETS = ("kb", "kb-hinglish", "newdocs", "newdocs-course")


def missing_shared(names: list[str]) -> list[str]:
    """The sets among ``names`` that need ``../shared`` when it is not there (else none)."""
    if (SHARED / "corpus").is_dir() and (SHARED / "eval").is_dir():
        return []
    return [n for n in names if n not in LOCAL_SETS]


def load_set(name: str, quick: bool = False) -> EvalSet:
    """Load one set by name; ``quick`` takes a small deterministic subsample.

    Raises:
        KeyError: unknown set name.
    """
    small = 40 if quick else None
    loaders: dict[str, Callable[[], EvalSet]] = {
        "officer-en": lambda: load_officer(("en",)),
        "officer-en-seen": lambda: load_officer(("en",), True, "officer-en-seen"),
        "officer-en-unseen": lambda: load_officer(("en",), False, "officer-en-unseen"),
        "officer-hi": lambda: load_officer(("hi", "hinglish"), None, "officer-hi"),
        "officer-hinglish": lambda: load_officer(("hinglish",), None, "officer-hinglish"),
        "newdocs": load_new_docs,
        "newdocs-course": lambda: load_new_docs("newdocs-course"),
        "kb": lambda: load_kb(None),
        "kb-hinglish": lambda: load_kb(None, langs=("hinglish",)),
        "constitution": lambda: load_constitution(60 if quick else 300),
        "cghs": lambda: load_faq("cghs", "cghs_faq_qa.jsonl", small),
        "pension": lambda: load_faq("pension", "dopw_pension_faq_qa.jsonl", small),
        "training": lambda: load_faq("training", "dopt_ltdp_training_faq_qa.jsonl", small),
        "milpac-hi": lambda: load_milpac("hi", small),
        "milpac-en": lambda: load_milpac("en", small),
        "cranfield": lambda: load_cranfield(60 if quick else None),
        "milpac-multi-hi": lambda: load_milpac_multi("hi", small),
    }
    if name.startswith("milpac-") and name[len("milpac-"):] in MULTI_LANGUAGES[1:]:
        return load_milpac_multi(name[len("milpac-"):], small)
    return loaders[name]()
