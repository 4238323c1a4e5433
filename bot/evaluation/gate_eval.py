"""Evidence-gate metrics on the labelled knowledge-base questions."""

from __future__ import annotations

from bot.evaluation.sets import kb_questions
from bot.knowledge.search import Retriever


def gate_metrics(retriever: Retriever) -> dict[str, dict]:
    """In-scope answered and out-of-scope declined, per split and language.

    Args:
        retriever: a retriever over the ``knowledge_base/`` index, with the gate to test.

    Returns:
        ``{"dev": {...}, "test": {...}}`` with ``in_scope_answered``,
        ``out_of_scope_declined`` (fractions), counts, and the questions it got wrong.
    """
    data = kb_questions()
    out: dict[str, dict] = {}
    for split in ("dev", "test"):
        answered = [retriever.search(q["question"]).answerable
                    for q in data["in_scope"] if q.get("split") == split]
        oos = [(q["question"], retriever.search(q["question"]).answerable)
               for q in data["out_of_scope"] if q.get("split") == split]
        missed = [q["question"] for q, ok in zip([q for q in data["in_scope"] if q.get("split") == split], answered, strict=False)
                  if not ok]
        out[split] = {
            "in_scope": len(answered), "out_of_scope": len(oos),
            "in_scope_answered": sum(answered) / max(1, len(answered)),
            "out_of_scope_declined": sum(not a for _, a in oos) / max(1, len(oos)),
            "wrongly_declined": missed, "wrongly_answered": [q for q, a in oos if a],
        }
    return out
