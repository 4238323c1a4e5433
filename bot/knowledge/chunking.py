"""Structure-aware chunking that keeps citations exact.

Documents are split on their headings and on the numbering that government texts
use for provisions ("7. Disposal of request.-", "Rule 43", "Article 311"), then each
section is cut into chunks of whole sentences under a word cap. Every chunk knows
its document, heading path, page and a human anchor for the citation, down to the
sub-section and clause the chunk starts in, e.g. "Section 7(1) (Disposal of request)"
or "Section 7(3)(a)-(b)" for a chunk that spans clauses (a) and (b).

FAQ documents get one section per question ("**(1.3)** **Who is eligible for
pension?**", "Q4 Officers of which services ...?"), anchored to the question, so an
answer is retrieved and cited on its own rather than packed with its neighbours.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.knowledge.documents import Block, Document

MAX_WORDS = 160
#: Bumped whenever chunks of the same document would come out differently; an index
#: built by another version re-chunks every document on its next update.
CHUNKER_VERSION = 3
#: Metadata copied from the document onto each chunk (used for warnings and boosts).
CHUNK_META_KEYS = ("module", "course", "roles", "competencies", "language", "effective",
                   "expires", "superseded_by", "issued", "source_url", "applies_to")

_ABBREVIATIONS = frozenset(
    [
        "rs", "no", "nos", "sec", "secs", "s", "ss", "r", "rr", "art", "arts", "cl", "dr", "mr", "mrs",
        "ms", "shri", "smt", "viz", "i.e", "e.g", "etc", "govt", "dept", "min", "vol", "p", "pp", "st",
        "ltd", "co", "hon", "sl", "para", "w.e.f", "u/s", "sub",
    ]
)
# A candidate boundary: end punctuation, optional closing quotes, space, then a capital,
# digit, Devanagari letter or opening bracket/quote/dash.
_BOUNDARY = re.compile(r"(?<=[.!?।])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9\u0900-\u097F(\-–•])")
# "7. Disposal of request.-" / "12. Regulation of ...-" / "43A. Short title.-" at paragraph start
# (matched on text with Markdown bold removed). Hyphens and dots inside words
# ("Vice-President", "re-election") belong to the name; ".-", " -" or a dash end it.
_NAME_CHAR = r"(?:[^\n.\u2014\u2013:\-]|(?<=\w)-(?=\w)|\.(?=\w))"
_PROVISION = re.compile(
    r"^\s*(\d{1,3}[A-Z]{0,2})\s*\.\s*([A-Z]" + _NAME_CHAR + r"{2,120}?)\s*[.:]?\s*(?:[\u2014\u2013]|(?<![^\s.:])-|-(?!\w))"
)
# "**Rule 4** **Departmental Regulations** : text" (GFR style): the word written out.
_EXPLICIT = re.compile(r"^\s*(Rule|Section|Article|Regulation)\s+(\d{1,3}[A-Z]{0,2})\b\s*(.*)", re.DOTALL)
_EXPLICIT_NAME = re.compile(r"^([A-Z][^:\n]{2,90}?)\s*:")
# Footnotes of amended texts look like provisions: "2. Subs. by the Constitution ...".
_FOOTNOTE = re.compile(r"^(?:Subs?|Ins|Added|Omitted|Rep|Renumbered|Inserted|Substituted|Amended|"
                       r"The words|Now|See|Vide|Cl|Clause|Earlier)\b")
# Headings under which numbering restarts and is not a Section/Rule/Article of the text.
_APPENDIX = re.compile(r"\b(?:SCHEDULE|APPENDIX|ANNEX(?:URE)?|FORM)\b", re.IGNORECASE)
# Sub-divisions of a provision at the start of a paragraph: "(1)" / "( 2 )" sub-sections,
# "(a)" clauses, "(i)" sub-clauses; the opening paragraph "7. Disposal of request.-(1) ..."
# starts sub-section (1).
_SUBSECTION = re.compile(r"^\s*\(\s*(\d{1,3}[A-Z]{0,2})\s*\)")
_OPENING_SUBSECTION = re.compile(
    r"^\s*\d{1,3}[A-Z]{0,2}\s*\.[^\n]{0,160}?(?:[\u2014\u2013]|(?<![^\s.:])-|-(?!\w))\s*\(\s*(\d{1,3}[A-Z]{0,2})\s*\)")
_CLAUSE = re.compile(r"^\s*\(\s*([a-z]{1,2}|[ivx]{1,6})\s*\)")
_ROMAN = re.compile(r"^[ivx]+$")
# FAQ entries: "(1.3) ...", "Q4 ...", "Q. 4: ...", "1.3 ..." opening a paragraph.
_FAQ_NUMBER = re.compile(r"^(?:\(\d{1,3}(?:\.\d{1,3})+\)|Q(?:uestion)?\.?\s*\d{1,3}\b[.:)]?|\d{1,3}\.\d{1,3}\b\.?)"
                         r"\s*(?=[A-Z\u0900-\u097F\"“‘'])")
_EMPHASIS = re.compile(r"^\s*[*_]{1,3}\S")
FAQ_ANCHOR_CHARS = 100
_NUMBERED_ANCHOR = re.compile(r"^((?:Section|Rule|Article|Regulation) \d{1,3}[A-Z]{0,2})(.*)$", re.DOTALL)
#: How far a provision number may jump ahead of the previous one (larger jumps are
#: footnote or table numbers, not the next provision).
MAX_PROVISION_JUMP = 60


@dataclass
class Chunk:
    """A retrievable passage with everything needed to cite it."""

    id: str
    source: str
    title: str
    heading_path: list[str]
    anchor: str
    text: str
    page: int | None = None
    position: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        """Human citation: "<title> - <anchor>[, page N]"."""
        where = f"{self.title} — {self.anchor}" if self.anchor and self.anchor != self.title else self.title
        return f"{where}, page {self.page}" if self.page else where

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading context helps short chunks match."""
        context = " > ".join([self.title, *self.heading_path])
        return f"{context}\n{self.text}"

    def to_dict(self) -> dict[str, Any]:
        """The chunk as a JSON-ready dict (one line of ``chunks.jsonl``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        """The chunk stored by :meth:`to_dict`."""
        return cls(**data)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; abbreviations such as "Rs. 10" do not end one."""
    text = re.sub(r"[ \t]+", " ", text.replace("\n", " ")).strip()
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start:match.start()].rstrip()
        last_word = before.rsplit(" ", 1)[-1].rstrip(".").lower().lstrip("(")
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word):
            continue
        sentences.append(text[start:match.start()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


#: Replies quote at most about this many words of a passage (:mod:`bot.replies`). A longer
#: passage is cut to its sentences closest to the question, which needs a vector for each
#: of its sentences: the index stores those at ingest (see :func:`ranked_sentences`).
ANSWER_WORDS = 150
#: Bumped whenever :func:`answer_sentences` or :data:`ANSWER_WORDS` would give other
#: sentences: stored sentence vectors of another version are not used (nor reused).
SENTENCES_VERSION = 2


def answer_sentences(text: str) -> list[str]:
    """The sentences a reply is built from: list items (``-``, ``*``, ``•``) stay whole lines.

    Args:
        text: a chunk's text.

    Returns:
        The sentences, in order, without empty ones.
    """
    if "\n" not in text:
        return split_sentences(text)
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(split_sentences(line) if not line.lstrip().startswith(("-", "*", "•")) else [line.strip()])
    return [s for s in out if s]


def ranked_sentences(text: str, max_words: int = ANSWER_WORDS) -> list[str] | None:
    """The sentences of a passage too long to quote whole, or None when it fits the budget.

    Args:
        text: a chunk's text.
        max_words: the reply's word budget.

    Returns:
        :func:`answer_sentences` of ``text`` when they exceed ``max_words`` words (a reply
        then ranks them against the question), else None.
    """
    sentences = answer_sentences(text)
    return sentences if sum(len(s.split()) for s in sentences) > max_words else None


def provision_word(title: str) -> str:
    """The word a document uses for its numbered units: Article, Rule or Section."""
    lowered = title.lower()
    if "constitution" in lowered:
        return "Article"
    if "rules" in lowered or "regulations" in lowered:
        return "Rule"
    if re.search(r"\bact\b", lowered):
        return "Section"
    return ""


def chunk_document(document: Document, max_words: int = MAX_WORDS) -> list[Chunk]:
    """Cut a document into citation-ready chunks.

    Args:
        document: a parsed document.
        max_words: the cap on words per chunk (a single longer sentence is cut at the cap).

    Returns:
        Chunks in document order; ids are stable content hashes.
    """
    sections = _sections(document)
    meta = {k: document.meta[k] for k in CHUNK_META_KEYS if document.meta.get(k) not in (None, "", [])}
    chunks: list[Chunk] = []
    for heading_path, section_anchor, page, paragraphs in sections:
        for text, first, last in _pack(paragraphs, max_words):
            anchor = with_subdivision(section_anchor, first, last)
            position = len(chunks)
            digest = hashlib.sha256(
                "\x1f".join([document.source, str(position), *heading_path, text]).encode()
            ).hexdigest()[:20]
            chunks.append(Chunk(
                id=digest, source=document.source, title=document.title,
                heading_path=list(heading_path), anchor=anchor, text=text, page=page,
                position=position, meta=meta,
            ))
    return chunks


Label = tuple[str, ...]  # ("3", "a") is sub-section (3), clause (a); () is none
Paragraphs = list[tuple[str, Label]]


def _leading_number(mark: str) -> int:
    """The number a sub-section or provision mark starts with: ``"12A"`` -> 12.

    Raises:
        ValueError: the mark does not start with digits (the patterns that find marks
            all require them, so this means a pattern changed).
    """
    digits = re.match(r"\d+", mark)
    if digits is None:
        raise ValueError(f"{mark!r} does not start with a number")
    return int(digits.group())


def _marker(paragraph: str, opening: bool) -> tuple[str, str] | None:
    """``("sub", "2")`` or ``("clause", "b")`` for a paragraph that opens a sub-division."""
    plain = re.sub(r"\*+", "", paragraph[:240])
    match = (_OPENING_SUBSECTION.match(plain) if opening else None) or _SUBSECTION.match(plain)
    if match:
        return "sub", match.group(1)
    match = _CLAUSE.match(plain)
    return ("clause", match.group(1)) if match else None


def _next_label(label: Label, paragraph: str, opening: bool, upcoming: str = "") -> Label:
    """The sub-division a paragraph belongs to, given the one before it.

    Only markers that continue the sequence count: sub-section (n) or (nA) after (n-1)
    or (n), clause (a) first and then the next letter. Anything else (the (a)-(d) of a
    list nested in a clause, roman sub-items, a reference) leaves the paragraph in the
    sub-division it is in, so an anchor is never more precise than the text supports.
    """
    marker = _marker(paragraph, opening)
    if marker is None:
        return () if opening else label  # "Provided that ..." stays in its sub-division
    kind, mark = marker
    sub = label[0] if label else ""
    clause = label[1] if len(label) > 1 else ""
    if kind == "sub":
        number = _leading_number(mark)
        previous = _leading_number(sub) if sub else 0
        # a jump of a few allows for omitted sub-sections ("(2)* * *" in amended texts)
        return (mark,) if previous <= number <= previous + 3 else label
    if len(mark) != 1:
        return label  # (ii), (iv), (aa): sub-items, not the next clause
    expected = "a" if not clause else chr(ord(clause) + 1)
    if mark != expected:
        return label
    if mark == "i" and _marker(upcoming, False) == ("clause", "ii"):
        return label  # "(i) ... (ii) ..." is a roman list, not clause (i) after (h)
    return (sub, mark)


def with_subdivision(anchor: str, first: Label, last: Label) -> str:
    """``anchor`` narrowed to the sub-divisions a chunk covers.

    Examples: ("Section 7 (Disposal of request)", ("1",), ("1",)) gives
    "Section 7(1) (Disposal of request)"; first ("3", "a") and last ("3", "b") give
    "Section 7(3)(a)–(b)"; a chunk that starts in (1) and ends inside (1)(b) is
    "Section 7(1)". Anchors without a provision number are returned unchanged.
    """
    match = _NUMBERED_ANCHOR.match(anchor)
    if not match or not first:
        return anchor
    suffix = "".join(f"({part})" for part in first if part)
    if last and last[:len(first)] != first:
        common = 0
        while common < min(len(first), len(last)) and first[common] == last[common]:
            common += 1
        suffix += "–" + "".join(f"({part})" for part in last[common:] if part)
    return f"{match.group(1)}{suffix}{match.group(2)}"


def _sections(document: Document) -> list[tuple[list[str], str, int | None, Paragraphs]]:
    """Group paragraphs under their heading path; numbered provisions open sections too."""
    word = provision_word(document.title)
    stack: list[tuple[int, str]] = []  # (level, heading)
    provision: str | None = None
    last_number = 0  # provision numbers only go up (footnotes and tables restart at 1)
    sections: list[tuple[list[str], str, int | None, Paragraphs]] = []
    current: Paragraphs = []
    current_page: int | None = None
    label: Label = ()

    def path() -> list[str]:
        headings = [h for _, h in stack if h != document.title]
        return headings + ([provision] if provision else [])

    def flush() -> None:
        if current:
            heading_path = path()
            anchor = heading_path[-1] if heading_path else document.title
            sections.append((heading_path, anchor, current_page, list(current)))
            current.clear()

    for number, block in enumerate(document.blocks):
        in_appendix = any(_APPENDIX.search(h) for _, h in stack)
        if block.level:
            flush()
            provision, label = None, ()
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            heading = re.sub(r"\s+", " ", block.text).strip()
            if _APPENDIX.search(heading) and not in_appendix:
                last_number = 0
            found = _match_provision(heading, word, last_number, in_appendix or bool(_APPENDIX.search(heading)))
            if found:  # "## 17. Removal of ... -" is a provision written as a heading
                heading, last_number = found
            stack.append((block.level, heading))
            continue
        follows_heading = number > 0 and document.blocks[number - 1].level > 0
        question = None if follows_heading else faq_question(block.text)  # else a heading's 2nd line
        if question:  # a FAQ entry is its own section, cited by its question
            flush()
            provision, label = question, ()
            found = None
        else:
            found = _match_provision(block.text, word, last_number, in_appendix) if word or not stack else None
        if found:
            flush()
            provision, last_number = found
        if word:
            upcoming = document.blocks[number + 1].text if number + 1 < len(document.blocks) else ""
            label = _next_label(() if found else label, block.text, bool(found), upcoming)
        if not current:
            current_page = block.page
        elif block.page is not None and current_page is not None and block.page != current_page:
            flush()  # a chunk cites one page
            current_page = block.page
        current.append((block.text, label))
    flush()
    return sections


def faq_question(paragraph: str) -> str | None:
    """The question a FAQ entry opens with, as its citation anchor; None for other text.

    A question is the paragraph's leading emphasised lines (``**(1.3)** **Who is
    eligible?**``) or its first line: numbered ("(1.3)", "Q4", "1.3") and ending with
    "?" (or emphasised after "(1.3)" or "Q4", where long questions lose the "?" to
    line breaks), or unnumbered, emphasised, ending with "?" and of four words or more
    (so a bold "To whom?" inside a rule stays part of its section).
    """
    lines = paragraph.strip().split("\n")
    emphasised = 0
    while emphasised < len(lines) and _EMPHASIS.match(lines[emphasised]):
        emphasised += 1
    lead = lines[:emphasised] or lines[:1]
    text = re.sub(r"\s+", " ", re.sub(r"[*_]{1,3}", "", " ".join(lead))).strip()
    numbered = _FAQ_NUMBER.match(text)
    if numbered:
        question = text[numbered.end():]
        # "(1.1)" and "Q1" mark FAQ entries; a bare "3.2" is as often a numbered paragraph.
        marked = emphasised and not numbered.group().strip()[0].isdigit()
        if not (question.endswith("?") or marked) or len(question.split()) < 3:
            return None
    elif not (emphasised and text.endswith("?") and len(text.split()) >= 4):
        return None
    if len(text) > FAQ_ANCHOR_CHARS:
        text = text[:FAQ_ANCHOR_CHARS].rsplit(" ", 1)[0] + "…"
    return text


def _match_provision(text: str, word: str, last_number: int, in_appendix: bool) -> tuple[str, int] | None:
    """The anchor of a paragraph that opens a numbered provision, with its number.

    Args:
        text: the paragraph or heading.
        word: "Section", "Rule", "Article" or "" (see :func:`provision_word`).
        last_number: the previous provision's number (numbers must go up, by a little).
        in_appendix: inside a schedule, appendix, annexure or form: numbers there are
            paragraphs of that part, not provisions of the text ("3. Name", no word).

    Returns:
        ``(anchor, number)`` such as ``("Section 7 (Disposal of request)", 7)``, or None.
    """
    plain = re.sub(r"\*+", "", text[:400])
    match = _PROVISION.match(plain)
    explicit = None if match else _EXPLICIT.match(plain)
    if explicit and (explicit.group(1) != word or not (text.lstrip().startswith("**")
                                                        or _EXPLICIT_NAME.match(explicit.group(3)))):
        explicit = None  # "Rule 26 credits ..." inside a sentence is a reference, not a heading
    name_match: re.Match[str] | None
    if match:
        number, name_match, name_group = match.group(1), match, 2
    elif explicit:
        number, name_match, name_group = explicit.group(2), _EXPLICIT_NAME.match(explicit.group(3).strip()), 1
    else:
        return None
    name = re.sub(r"\s+", " ", name_match.group(name_group)).strip(" *") if name_match else ""
    if name and _FOOTNOTE.match(name):
        return None
    value = _leading_number(number)
    if word and not in_appendix and not (last_number <= value <= last_number + MAX_PROVISION_JUMP):
        return None
    if word and not in_appendix:
        return (f"{word} {number} ({name})" if name else f"{word} {number}"), value
    return (f"{number}. {name}", value) if name else None


def _pack(paragraphs: Paragraphs, max_words: int) -> list[tuple[str, Label, Label]]:
    """Pack whole sentences into chunks under ``max_words``; keep list items as lines.

    Returns:
        ``(text, first label, last label)`` per chunk: the sub-divisions it starts and ends in.
    """
    units: Paragraphs = []
    for paragraph, label in paragraphs:
        if re.match(r"^\s*([-*•]|\d+[.)]|\(\w{1,4}\))\s", paragraph) and len(paragraph.split()) <= max_words:
            units.append((re.sub(r"\s*\n\s*", " ", paragraph.strip()), label))
        else:
            units.extend((sentence, label) for sentence in split_sentences(paragraph))
    chunks: list[tuple[str, Label, Label]] = []
    current: Paragraphs = []
    count = 0

    def emit() -> None:
        chunks.append((_join([unit for unit, _ in current]), current[0][1], current[-1][1]))

    for unit, label in units:
        words = unit.split()
        while len(words) > max_words:  # a run-on "sentence" (tables, lists flattened by PDF)
            if current:
                emit()
                current, count = [], 0
            chunks.append((" ".join(words[:max_words]), label, label))
            words = words[max_words:]
            unit = " ".join(words)
        if count + len(words) > max_words and current:
            emit()
            current, count = [], 0
        if words:
            current.append((unit, label))
            count += len(words)
    if current:
        emit()
    return chunks


def _join(units: list[str]) -> str:
    out = ""
    for unit in units:
        sep = "\n" if re.match(r"^\s*([-*•]|\d+[.)]|\(\w{1,4}\))\s", unit) else " "
        out = f"{out}{sep}{unit}" if out else unit
    return out.strip()


__all__ = ["ANSWER_WORDS", "CHUNKER_VERSION", "SENTENCES_VERSION", "Block", "Chunk", "answer_sentences",
           "chunk_document", "ranked_sentences", "split_sentences", "provision_word",
           "with_subdivision"]
