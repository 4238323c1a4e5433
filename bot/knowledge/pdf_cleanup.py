"""Clean the text layer of PDF pages: repeated headers and footers, broken lines.

PDF text comes out line by line as laid out on the page: every page repeats the
running header ("Ministry of Personnel ...") and a page number, and paragraphs are
broken at the right margin, sometimes with a hyphen. Chunks built on that would cite
noise and split sentences.
"""

from __future__ import annotations

import re
from collections import Counter

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?[-–]?\s*\d{1,4}\s*[-–]?\s*(?:of\s*\d+)?\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;।]\s*$")


def _normalise_line(line: str) -> str:
    """Key for header/footer detection: digits vary (page numbers), so drop them."""
    return re.sub(r"\d+", "#", line.strip().lower())


def clean_pdf_pages(pages: list[str]) -> list[str]:
    """Remove running headers/footers and join broken lines on each page.

    Args:
        pages: raw text per page.

    Returns:
        Cleaned text per page (same length), paragraphs separated by blank lines.
    """
    split_pages = [page.replace("\r\n", "\n").replace("\r", "\n").split("\n") for page in pages]
    repeated = _repeated_edge_lines(split_pages)
    return [_join_lines([ln for ln in lines if not _is_noise(ln, repeated)]) for lines in split_pages]


def _repeated_edge_lines(pages: list[list[str]]) -> set[str]:
    """Lines that occur in the top or bottom 3 lines of at least half of the pages."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        non_empty = [ln for ln in lines if ln.strip()]
        edges = {_normalise_line(ln) for ln in non_empty[:3] + non_empty[-3:]}
        counts.update(edges)
    return {key for key, n in counts.items() if key and n >= max(3, len(pages) // 2)}


def _is_noise(line: str, repeated: set[str]) -> bool:
    return bool(_PAGE_NUMBER.match(line)) or _normalise_line(line) in repeated


def _join_lines(lines: list[str]) -> str:
    """Re-flow lines into paragraphs: a line that does not end a sentence continues."""
    paragraphs: list[str] = []
    current = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        if current.endswith("-") and line[:1].islower():
            current = current[:-1] + line  # hyphenated word broken at the margin
        elif current and not _SENTENCE_END.search(current) and not _starts_list_item(line):
            current = f"{current} {line}"
        else:
            if current:
                paragraphs.append(current)
            current = line
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _starts_list_item(line: str) -> bool:
    return bool(re.match(r"^(?:\(\w{1,4}\)|\d{1,3}[.)]|[-•*])\s", line))
