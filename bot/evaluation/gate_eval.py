"""Evidence-gate metrics on the labelled knowledge-base questions."""

from __future__ import annotations

from bot.evaluation.sets import kb_judge, kb_questions
from bot.knowledge.search import Retriever


def gate_metrics(retriever: Retriever) -> dict[str, dict]:
    """In-scope answered and out-of-scope declined, per split.

    Declined questions that still get a pointer to the closest section (see
    :class:`bot.knowledge.search.GateVerdict`) count as declined; the pointer is reported
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
