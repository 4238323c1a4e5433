"""Training examples for the cross-encoder reranker, made only from the team's own data.

Two kinds of questions, each with the chunks that answer it:

- **written**: officer-style questions the team wrote over ``knowledge_base/`` and the
  training documents of ``../shared/corpus`` (``bot/knowledge/reranker_data/``), each
  with verbatim gold spans; a chunk of the gold document that contains a span answers it.
- **structural**: questions derived from document structure: a provision's heading
  ("Section 7. Disposal of request") asked as an officer would ("disposal of request
  under the Right to Information Act") answered by its first chunk, and definitions
  (``"public authority" means ...``) asked as "what is meant by public authority".

Negatives are hard ones: the other top candidates of today's hybrid retriever for the
same question (the neighbouring section, the same rule number in another Act), plus one
random chunk. Documents in :data:`HELD_OUT` never appear, neither as positives nor as
negatives, so evaluation can report how the reranker does on documents it never saw;
the FAQ documents are held out too because their question-answer pairs back evaluation
sets. Nothing here reads ``../shared/eval``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.evaluation.metrics import contains_answer
from bot.evaluation.splits import DATA_DIR, HELD_OUT, split_of, written_questions
from bot.knowledge.chunking import Chunk

_DEFINITION = re.compile(r"[\"“‘']([^\"”’']{3,60})[\"”’']\s+(?:means|includes|shall mean)\b")
_NUMBER_PREFIX = re.compile(r"^\s*(?:\[?\s*)?(?:(?:Section|Rule|Article|Regulation|Chapter|Part)\s+)?"
                            r"[\dIVXLC]{1,6}[A-Z]{0,2}\s*[.:)\-–—]?\s*", re.IGNORECASE)


@dataclass
class Example:
    """One training question with its answering chunks (by id) and hard negatives."""

    question: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    kind: str = "written"
    split: str = "train"
    source: str = ""


def answering_chunks(chunks: Iterable[Chunk], source: str, gold: list[str]) -> list[Chunk]:
    """Chunks of ``source`` that contain one of the gold spans."""
    return [c for c in chunks if c.source == source and any(contains_answer(c.text, g) for g in gold)]


def heading_name(heading: str) -> str:
    """A heading without its number: "Section 7. Disposal of request.-" -> "Disposal of request"."""
    name = _NUMBER_PREFIX.sub("", heading.replace("*", "")).strip(" .-–—:[]")
    return re.sub(r"\s+", " ", name)


def short_title(title: str) -> str:
    """A document title without the year and trimmings: "The Right to Information Act, 2005"."""
    return re.sub(r"\s*[-–—(].*$", "", title).strip() or title


def structural_questions(chunks: list[Chunk], rng: random.Random) -> list[tuple[str, list[str]]]:
    """Questions derived from headings and definitions, with the chunk ids that answer them."""
    out: list[tuple[str, list[str]]] = []
    first_of_section: dict[tuple[str, tuple[str, ...]], Chunk] = {}
    for chunk in chunks:
        first_of_section.setdefault((chunk.source, tuple(chunk.heading_path)), chunk)
    templates = ["{name}", "what does the {doc} say about {lname}", "{lname} rules", "explain {lname}",
                 "{lname} under {doc}", "what is the provision on {lname}", "tell me about {lname}"]
    for (_, path), chunk in first_of_section.items():
        if not path:
            continue
        name = heading_name(path[-1])
        words = name.split()
        if not 2 <= len(words) <= 14 or not re.search(r"[a-z]", name):
            continue
        question = rng.choice(templates).format(name=name, lname=name.lower(), doc=short_title(chunk.title))
        out.append((question, [chunk.id]))
    seen: set[str] = set()
    for chunk in chunks:
        for match in _DEFINITION.finditer(chunk.text):
            term = match.group(1).strip()
            if term.lower() in seen or len(term.split()) > 6:
                continue
            seen.add(term.lower())
            template = rng.choice(["what is meant by {t}", "define {t}", "meaning of {t} in {doc}",
                                   "what does {t} mean"])
            out.append((template.format(t=term, doc=short_title(chunk.title)), [chunk.id]))
    return out


__all__ = ["DATA_DIR", "HELD_OUT", "Example", "answering_chunks", "heading_name", "split_of",
           "structural_questions", "written_questions"]
