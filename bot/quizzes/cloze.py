"""Cloze questions drafted from the course material: facts, distractors and items.

Key facts are blanked out of sentences of the material: time limits and other numbers
with units (days, hours, weeks, months, years, Rs amounts, percentages), calendar years,
authorities ("First Appellate Authority", "Central Information Commission") and defined
terms (``- **Term** (Section 2(f)): ...``). Distractors are similar facts found elsewhere
in the material: the same unit with a different value (nearest values first), other
authorities (same kind of body first), other defined terms.

Every item is a single-choice question marked ``generated: true`` with the source
sentence as explanation, the chunk's document and anchor as source and the
document's competencies. Its id is a hash of the source sentence, so it stays the same
across re-indexing and regeneration. Writing, merging and reviewing the bank files is
:mod:`bot.quizzes.generated_banks`; the command line is :mod:`bot.quizzes.generate`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.i18n import t

#: Options per question (answer included); fewer than MIN_OPTIONS means no question.
MAX_OPTIONS = 4
MIN_OPTIONS = 3
MIN_WORDS, MAX_WORDS = 6, 70
BLANK = "[ … ]"

_NUM = r"\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45,
    "sixty": 60, "ninety": 90,
}
_WORDNUM = "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True))
# Unit words (English and Hindi) -> normalised kind.
_UNITS = {
    "working days": "days", "days": "days", "day": "days", "hours": "hours", "hour": "hours",
    "weeks": "weeks", "week": "weeks", "months": "months", "month": "months", "years": "years",
    "year": "years", "दिन": "days", "दिनों": "days", "घंटे": "hours", "घंटों": "hours", "सप्ताह": "weeks",
    "महीने": "months", "महीनों": "months", "माह": "months", "वर्ष": "years", "साल": "years",
}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_DURATION = re.compile(rf"(?<![\w,.])(?P<n>{_NUM}|(?i:{_WORDNUM}))[\s-](?P<u>{_UNIT_RE})(?![\w\u0900-\u097F])")
_MONEY = re.compile(rf"(?:\bRs\.?|₹|\bINR)\s?(?P<n>{_NUM})(?:\s?(?P<m>lakh|crore)\b)?|(?P<h>{_NUM})\s?(?:रुपये|रु\.?)")
_PERCENT = re.compile(rf"(?<![\w,.])(?P<n>{_NUM})\s?(?P<u>%|per ?cent\b|percent\b|प्रतिशत)")
_YEAR = re.compile(r"(?<![\w,.])(?P<n>19[5-9]\d|20[0-4]\d)(?![\w,])")
_BODY_WORDS = r"Authority|Commission|Committee|Officer|Tribunal|Commissioner|Board|Council|Court|Ombudsman"
_AUTHORITY = re.compile(rf"\b(?:[A-Z][A-Za-z]+\s){{1,4}}(?:{_BODY_WORDS})\b")
_LEADING = {"The", "A", "An", "Every", "Each", "Any", "Only", "If", "When", "No", "This", "That", "Its", "Their",
            "His", "Her", "Such", "Where", "While", "Before", "After", "Under", "Both", "Neither", "Either"}
_DEFINITION = re.compile(r"^\*\*(?P<term>[^*\n]{2,40}?)\*\*\s*(?:\([^)\n]{0,40}\))?\s*(?:[:\-–—]|means\b)")
_PROVISION_TERM = re.compile(r"^(?:Rule|Section|Article|Regulation)s?\s+\d")
_MULTIPLIERS = {"lakh": 100_000, "crore": 10_000_000}
# Typical values used only when the material has too few facts of the same unit.
_STANDARD = {
    "days": [3, 5, 7, 10, 15, 30, 45, 60, 90, 180], "hours": [12, 24, 48, 72, 96],
    "weeks": [1, 2, 3, 4, 6, 8], "months": [1, 2, 3, 6, 12, 18, 24], "years": [1, 2, 3, 5, 7, 10, 15],
    "percent": [5, 10, 15, 20, 25, 33, 50], "rs": [10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 25000],
}
_BULLET = re.compile(r"(?:^|\n|(?<=[;:.।])\s)\s*(?:[-*•+]|\d{1,2}[.)])\s+")


@dataclass(frozen=True)
class Fact:
    """A blankable fact in a sentence.

    Attributes:
        kind: ``days``/``hours``/``weeks``/``months``/``years``/``rs``/``percent``/``year``/
            ``authority``/``term``/``provision``.
        text: The exact text in the sentence.
        value: Numeric value for number facts (rupees for ``rs``), else None.
        number: The number as written (digits) for number facts.
        document: Where the fact was found (distractors from the same document rank first).
    """

    kind: str
    text: str
    value: float | None = None
    number: str = ""
    document: str = ""


@dataclass
class SourceSentence:
    """A sentence of the material with where it comes from and its facts."""

    text: str
    document: str
    anchor: str
    module: str
    title: str
    language: str
    competencies: tuple[str, ...]
    facts: list[Fact] = field(default_factory=list)

    @property
    def item_id(self) -> str:
        """A stable id for the item drafted from this sentence."""
        return sentence_id(self.text)


def sentence_id(sentence: str) -> str:
    """Stable item id of a generated question: a hash of its (cleaned) source sentence."""
    return "gen-" + hashlib.sha256(clean(sentence).encode()).hexdigest()[:12]


# ------------------------------------------------------------------ text


def clean(text: str) -> str:
    """Strip Markdown emphasis, code marks and links; collapse whitespace."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)", "", text)
    text = re.sub(r"(?<!\w)_(?=\S)([^_\n]*?\S)_(?!\w)", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def segments(text: str) -> list[str]:
    """Split chunk or paragraph text into raw segments: list items and prose runs.

    List items flattened into one line by the chunker (``"...: - a; - b"``) are split
    again so that each item is its own segment.
    """
    return [s.strip() for s in _BULLET.split(text) if s and s.strip()]


def sentences_of(text: str) -> list[str]:
    """Cleaned sentences of a chunk or paragraph (the unit questions are made from)."""
    from bot.knowledge.chunking import split_sentences

    out: list[str] = []
    for segment in segments(text):
        out.extend(s for s in split_sentences(_strip_bullet(clean(segment))) if s)
    return out


def _strip_bullet(text: str) -> str:
    return re.sub(r"^(?:[-*•+]|\d{1,2}[.)])\s+", "", text)


def _definition_term(segment: str) -> str | None:
    match = _DEFINITION.match(segment.strip())
    if not match:
        match = re.match(r'^"?(?P<term>[A-Z][\w -]{1,40}?)"?\s+means\b', clean(segment))
    if not match:
        return None
    term = clean(match.group("term")).strip(" :")
    if re.search(r"\d", term) and not _PROVISION_TERM.match(term):
        return None  # "Above Rs 10 lakh" is a condition, not a defined term
    return term if 1 <= len(term.split()) <= 5 else None


def _number(raw: str) -> float:
    lowered = raw.lower()
    if lowered in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[lowered])
    return float(raw.replace(",", ""))


def facts_in(sentence: str, term: str | None = None) -> list[Fact]:
    """Key facts of one cleaned sentence, in priority order (numbers, term, authority, year).

    Args:
        sentence: A cleaned sentence.
        term: The defined term when the sentence opens a definition.

    Returns:
        Facts whose text occurs exactly once in the sentence.
    """
    numeric: list[tuple[int, Fact]] = []
    taken: list[tuple[int, int]] = []
    for match in _MONEY.finditer(sentence):
        raw = match.group("n") or match.group("h")
        multiplier = _MULTIPLIERS.get((match.group("m") or "").lower(), 1)
        numeric.append((match.start(), Fact("rs", match.group(0).strip(), _number(raw) * multiplier, raw)))
        taken.append(match.span())
    for pattern, kind in ((_DURATION, None), (_PERCENT, "percent")):
        for match in pattern.finditer(sentence):
            if any(a <= match.start() < b for a, b in taken):
                continue
            unit_kind = kind or _UNITS[match.group("u")]
            numeric.append((match.start(), Fact(unit_kind, match.group(0).strip(), _number(match.group("n")),
                                                 match.group("n"))))
            taken.append(match.span())
    values = [(f.kind, f.value) for _, f in numeric]
    # "30 days ... thirty days" in one sentence would give the answer away.
    facts = [f for _, f in sorted(numeric, key=lambda p: p[0]) if values.count((f.kind, f.value)) == 1]
    if term and sentence.startswith(term):
        head = re.sub(r"\s*\([^)]*\)$", "", term).split()[-1]
        kind = "provision" if _PROVISION_TERM.match(term) else "authority" if re.fullmatch(_BODY_WORDS, head) else "term"
        facts.append(Fact(kind, term))
    for match in _AUTHORITY.finditer(sentence):
        if re.search(r"[A-Z][a-z]+ (?:and|of|for) $", sentence[:match.start()]):
            continue  # the tail of "Drawing and Disbursing Officer" is no authority of its own
        words = match.group(0).split()
        while words and words[0] in _LEADING:
            words = words[1:]
        if len(words) >= 2:
            facts.append(Fact("authority", " ".join(words)))
    for match in _YEAR.finditer(sentence):
        if not any(a <= match.start() < b for a, b in taken):
            facts.append(Fact("year", match.group("n"), float(match.group("n")), match.group("n")))
    unique: list[Fact] = []
    for fact in facts:
        if sentence.count(fact.text) == 1 and all(f.text != fact.text for f in unique):
            unique.append(fact)
    return unique


# ------------------------------------------------------------------ material


def _is_current(meta: dict[str, Any], today: dt.date) -> bool:
    """Superseded or expired documents teach outdated facts: no questions from them."""
    if meta.get("superseded_by"):
        return False
    expires = meta.get("expires")
    try:
        return not expires or dt.date.fromisoformat(str(expires)[:10]) >= today
    except ValueError:
        return True


def load_chunks(kb_dir: Path, index_dir: Path | None = None) -> list[Any]:
    """Chunks of the material: the live index when there is one, else re-chunked documents.

    Args:
        kb_dir: The knowledge folder.
        index_dir: The index folder (its ``CURRENT`` version is read when present).

    Returns:
        :class:`bot.knowledge.chunking.Chunk` objects in document order.
    """
    from bot.knowledge.chunking import chunk_document
    from bot.knowledge.index import current_version_dir, read_chunks
    from bot.knowledge.loader import LoadFailure, discover, load_safely

    version = current_version_dir(Path(index_dir)) if index_dir else None
    if version is not None:
        return read_chunks(version)
    chunks: list[Any] = []
    for path in discover(Path(kb_dir), {}):
        document = load_safely(path, Path(kb_dir))
        if not isinstance(document, LoadFailure):
            chunks.extend(chunk_document(document))
    return chunks


def source_sentences(chunks: Iterable[Any], today: dt.date | None = None) -> list[SourceSentence]:
    """Sentences of current documents with their facts (first occurrence of a sentence wins)."""
    from bot.knowledge.chunking import split_sentences

    today = today or dt.date.today()
    out: list[SourceSentence] = []
    seen: set[str] = set()
    for chunk in chunks:
        meta = chunk.meta or {}
        if not _is_current(meta, today):
            continue
        module = str(meta.get("module") or Path(chunk.source).stem)
        competencies = tuple(str(c) for c in (meta.get("competencies") or []))
        language = str(meta.get("language") or "en")
        for segment in segments(chunk.text):
            term = _definition_term(segment)
            for sentence in split_sentences(_strip_bullet(clean(segment))):
                if sentence in seen:
                    continue
                seen.add(sentence)
                facts = [replace(f, document=chunk.source) for f in facts_in(sentence, term)]
                out.append(SourceSentence(sentence, chunk.source, chunk.anchor, module, chunk.title, language,
                                          competencies, facts))
    return out


# ------------------------------------------------------------------ distractors


def _swap_number(answer: Fact, other: Fact) -> str:
    """The answer's wording with another fact's number ("30 days" + 15 -> "15 days")."""
    if answer.kind == "rs" and (answer.text.lower().endswith(("lakh", "crore")) or
                                other.text.lower().endswith(("lakh", "crore"))):
        return other.text
    number = other.number if other.number and other.number.lower() not in _WORD_NUMBERS else f"{other.value:g}"
    text = answer.text.replace(answer.number, number, 1)
    # Singular/plural of English units after the swap.
    if other.value == 1:
        text = re.sub(r"\b(day|hour|week|month|year)s\b", r"\1", text)
    else:
        text = re.sub(r"\b(day|hour|week|month|year)\b(?!s)", r"\1s", text)
    return text


def _digits(fact: Fact) -> str:
    """A number fact as shown among options (number words become digits, like distractors)."""
    if fact.number.lower() in _WORD_NUMBERS:
        return _swap_number(fact, Fact(fact.kind, "", fact.value, f"{fact.value:g}"))
    return fact.text


def distractors(answer: Fact, pool: list[Fact], sentence: str, limit: int = MAX_OPTIONS - 1) -> list[str]:
    """Plausible wrong options for ``answer``, distinct from it and from each other.

    Args:
        answer: The blanked fact.
        pool: Facts found anywhere in the material.
        sentence: The source sentence (values it already shows are not offered).
        limit: How many to return at most.

    Returns:
        Option texts, most plausible first: numbers of the same unit nearest in value
        (typical values fill in when the material has too few), bodies of the same kind
        (same last word) first, other defined terms.
    """
    shown = _digits(answer) if answer.value is not None else answer.text
    chosen: list[str] = []

    def add(text: str) -> None:
        key = text.casefold()
        if text and key != shown.casefold() and key not in {c.casefold() for c in chosen} and text not in sentence:
            chosen.append(text)

    if answer.value is not None:
        base = max(answer.value, 1e-9)

        def nearest(facts: Iterable[Fact]) -> list[Fact]:
            return sorted(facts, key=lambda f: (abs(math.log(max(f.value or 0, 1e-9) / base)), f.value))

        material: dict[float, Fact] = {}
        for fact in pool:
            if fact.kind == answer.kind and fact.value not in (None, answer.value) and fact.value > 0:
                material.setdefault(fact.value, fact)
        typical = [Fact(answer.kind, "", float(v), f"{v:,}") for v in _STANDARD.get(answer.kind, [])]
        if answer.kind == "year":
            typical = [Fact("year", "", answer.value + d, f"{answer.value + d:g}") for d in (-5, -1, 1, 5)]
        # Values from the material first (nearest first); typical values only fill up.
        for fact in [*nearest(material.values()), *nearest(f for f in typical if f.value != answer.value)]:
            add(_swap_number(answer, fact) if answer.kind != "year" else fact.number)
            if len(chosen) >= limit:
                break
        return chosen

    def head(text: str) -> str:
        return re.sub(r"\s*\([^)]*\)$", "", text).split()[-1]

    answer_key = re.sub(r"\s*\([^)]*\)$", "", answer.text).casefold()
    ranks: dict[str, tuple[int, int]] = {}
    for fact in pool:
        key = re.sub(r"\s*\([^)]*\)$", "", fact.text).casefold()
        if fact.kind != answer.kind or key in answer_key or answer_key in key:
            continue  # "Information Commission" is no distractor for "Central Information Commission"
        if set(answer_key.split()) <= set(key.split()) or set(key.split()) <= set(answer_key.split()):
            continue  # "Internal Complaints Committee" may be another name of the "Internal Committee"
        if answer.kind == "term" and fact.document != answer.document:
            continue  # defined terms are only comparable within one document
        rank = (0 if head(fact.text) == head(answer.text) else 1,
                0 if answer.document and fact.document == answer.document else 1)
        ranks[fact.text] = min(ranks.get(fact.text, rank), rank)
    for text in sorted(ranks, key=lambda t: (ranks[t], t)):
        add(text)
        if len(chosen) >= limit:
            break
    return chosen


# ------------------------------------------------------------------ items


def _language_pool(sentences: list[SourceSentence]) -> dict[str, list[Fact]]:
    pools: dict[str, list[Fact]] = {}
    for s in sentences:
        pools.setdefault(s.language, []).extend(s.facts)
    return pools


def make_item(source: SourceSentence, pool: list[Fact]) -> dict[str, Any] | None:
    """The question for one sentence (first fact with enough distractors), or None."""
    words = len(source.text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        return None
    for fact in source.facts:
        wrong = distractors(fact, pool, source.text)
        if len(wrong) + 1 < MIN_OPTIONS:
            continue
        answer = _digits(fact) if fact.value is not None and fact.kind != "year" else fact.text
        blanked = source.text.replace(fact.text, BLANK, 1)
        if len(blanked.replace(BLANK, "").split()) < 5:
            continue
        item_id = source.item_id
        options = sorted([answer, *wrong], key=lambda o: hashlib.sha256(f"{item_id}\x1f{o}".encode()).hexdigest())
        # The material's language: a locale without the text falls back to English.
        prompt = t("quiz_cloze_prompt", source.language)
        return {
            "id": item_id,
            "type": "single",
            "question": f"{prompt} {blanked}",
            "options": options,
            "answer": answer,
            "explanation": source.text,
            "source": {"document": source.document, "anchor": source.anchor},
            "competencies": list(source.competencies),
            "difficulty": 2,
            "generated": True,
            "status": "pending",
        }
    return None


def generate_items(sentences: list[SourceSentence], modules: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Questions by module.

    Args:
        sentences: From :func:`source_sentences` (all of the material: the distractor pool).
        modules: Only these modules get questions (None: all).

    Returns:
        ``{module: {"title": ..., "language": ..., "items": [item dicts]}}``.
    """
    pools = _language_pool(sentences)
    out: dict[str, dict[str, Any]] = {}
    for source in sentences:
        if modules is not None and source.module not in modules:
            continue
        item = make_item(source, pools.get(source.language, []))
        if item is None:
            continue
        bank = out.setdefault(source.module, {"title": source.title, "language": source.language, "items": []})
        if all(i["id"] != item["id"] for i in bank["items"]):
            bank["items"].append(item)
    return out
