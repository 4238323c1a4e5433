"""Evidence-gate metrics on the labelled knowledge-base questions."""

from __future__ import annotations

from bot.evaluation.sets import kb_judge, kb_questions
from bot.knowledge.search import Retriever


def gate_metrics(retriever: Retriever) -> dict[str, dict]:
    """In-scope answered and out-of-scope declined, per split.

    Declined questions that still get a pointer to the closest section (see
    :class:`bot.knowledge.gate.GateVerdict`) count as declined; the pointer is reported
    beside: how many in-scope questions were answered or pointed to the section that
    answers them, and how many out-of-scope ones were declined with no pointer at all.

    Args:
        retriever: a retriever over the ``knowledge_base/`` index, with the gate to test.

    Returns:
        ``{"dev": {...}, "test": {...}}`` with ``in_scope_answered``,
        ``out_of_scope_declined``, ``in_scope_answered_or_pointed``,
        ``out_of_scope_declined_without_pointer`` (fractions), counts, and the
        questions it got wrong.
    """
    data = kb_questions()
    out: dict[str, dict] = {}
    for split in ("dev", "test"):
        inside = [q for q in data["in_scope"] if q.get("split") == split]
        outside = [q for q in data["out_of_scope"] if q.get("split") == split]
        answered, reached, missed = 0, 0, []
        for item in inside:
            result = retriever.search(item["question"])
            answered += result.answerable
            reached += result.answerable or (result.closest and bool(kb_judge(item)(result.hits[0].chunk)))
            if not result.answerable:
                missed.append(item["question"])
        results = [(q["question"], retriever.search(q["question"])) for q in outside]
        out[split] = {
            "in_scope": len(inside), "out_of_scope": len(outside),
            "in_scope_answered": answered / max(1, len(inside)),
            "out_of_scope_declined": sum(not r.answerable for _, r in results) / max(1, len(outside)),
            "in_scope_answered_or_pointed": reached / max(1, len(inside)),
            "out_of_scope_declined_without_pointer":
                sum(not (r.answerable or r.closest) for _, r in results) / max(1, len(outside)),
            "wrongly_declined": missed, "wrongly_answered": [q for q, r in results if r.answerable],
        }
    return out


def officer_gate_metrics(corpus: Retriever, new_docs: Retriever | None = None,
                         new_docs_in_course: Retriever | None = None) -> dict[str, dict]:
    """The gate on the blind officer-style questions (``tests/data/officer_eval/``).

    Args:
        corpus: a retriever over ``../shared/corpus`` with the gate to test.
        new_docs: a retriever over ``tests/data/unseen_docs/`` (documents no labelled
            question mentions), or None to skip that row.
        new_docs_in_course: a retriever over those documents added to ``knowledge_base/``
            (row ``newdocs-course``), or None to skip it.

    Returns:
        Rows by question group (``en-seen``, ``en-unseen``, ``hi``, ``newdocs``,
        ``newdocs-course``, ``out-of-scope``): ``questions``, ``answered`` (fraction), ``answered_right``
        (answered with a relevant first passage), ``pointed`` (declined with a pointer),
        and the declined / wrongly answered questions.
    """
    from bot.evaluation.sets import load_new_docs, officer_rows, span_judge
    from bot.evaluation.splits import HELD_OUT

    groups: dict[str, list[tuple[str, object]]] = {"en-seen": [], "en-unseen": [], "hi": []}
    for row in officer_rows():
        key = "hi" if row["lang"] != "en" else ("en-unseen" if row["source"] in HELD_OUT else "en-seen")
        groups[key].append((row["question"], span_judge(row["source"], row["gold"])))
    out: dict[str, dict] = {}
    for key, items in groups.items():
        out[key] = _rates([(q, judge, corpus.search(q)) for q, judge in items])
    for name, retriever in (("newdocs", new_docs), ("newdocs-course", new_docs_in_course)):
        if retriever is not None:
            out[name] = _rates([(q.text, q.judge, retriever.search(q.text)) for q in load_new_docs(name).queries])
    results = [(r["question"], corpus.search(r["question"])) for r in officer_rows("out_of_scope")]
    out["out-of-scope"] = {
        "questions": len(results),
        "declined": sum(not r.answerable for _, r in results) / max(1, len(results)),
        "pointed": sum(r.closest for _, r in results) / max(1, len(results)),
        "wrongly_answered": [q for q, r in results if r.answerable],
    }
    return out


def _rates(results: list) -> dict:
    n = max(1, len(results))
    return {
        "questions": len(results),
        "answered": sum(r.answerable for _, _, r in results) / n,
        "answered_right": sum(r.answerable and bool(r.hits) and judge(r.hits[0].chunk) > 0
                              for _, judge, r in results) / n,
        "pointed": sum(r.closest for _, _, r in results) / n,
        "declined": [q for q, _, r in results if not r.answerable],
    }
