"""Reading documents from the knowledge folder into plain text with metadata.

A trainer drops Markdown, plain text, HTML, PDF or DOCX files into ``knowledge_base/``.
Text formats may start with a YAML front-matter block; binary formats may have a
sidecar ``<file>.meta.yml``. This module turns one file into a :class:`Document`:
its metadata plus a list of :class:`Block` s (a heading or a paragraph, with the PDF
page it came from), which :mod:`bot.knowledge.chunking` then groups into chunks.

Whatever a file holds, what comes out is bounded: metadata is read with capped YAML
(:mod:`bot.knowledge.safe_yaml`) and must be small plain JSON values (it is copied into
every chunk), an over-long heading becomes a paragraph (its text would be repeated in
the heading path of every chunk below it), runs of over a thousand characters without a
space are dropped or, for table rules, shortened (they would make one chunk megabytes), and a DOCX
that would inflate past a limit is refused before it is unzipped. Callers still parse
in a child process (:func:`bot.knowledge.loader.load_safely`) for time and memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import safe_yaml
from bot.language import script_language

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
BINARY_SUFFIXES = {".pdf", ".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | BINARY_SUFFIXES
#: A PDF with more pages than this is refused (a page cap bounds parse time and memory).
MAX_PDF_PAGES = int(os.environ.get("TUTOR_MAX_PDF_PAGES", "2000"))
_PDFIUM_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD: the document needs a password
#: Front matter and sidecars describe a document in a few lines; their values are copied
#: into every chunk, so both the YAML text and its value (as JSON) are capped.
MAX_META_BYTES = int(os.environ.get("TUTOR_MAX_META_KB", "64")) * 1024
#: Metadata is flat (keys, short lists): no deep nesting, and aliases may add little.
META_YAML_LIMITS = safe_yaml.YamlLimits(max_depth=10, max_alias_nodes=1_000, max_alias_chars=MAX_META_BYTES)
#: A longer "heading" is kept as a paragraph: a heading is repeated in every chunk below it.
MAX_HEADING_CHARS = 500
MAX_TITLE_CHARS = 300
#: A run of more characters than this without a space (an inline base64 image, minified
#: data, garbage) is dropped from the text: it is not prose and no question matches it.
MAX_WORD_CHARS = 1000
_RULE_RUN = re.compile(r"([-=_:.~*+])\1{3,}")  # "------" -> "---": still a Markdown table rule
#: A DOCX is a zip: one whose parts would inflate past this is refused unopened.
MAX_UNZIPPED_BYTES = int(os.environ.get("TUTOR_MAX_UNZIPPED_MB", "200")) * 1024 * 1024
MAX_ZIP_ENTRIES = 10_000

#: Front-matter keys we understand; others are kept but reported by ``kb validate``.
KNOWN_META_KEYS = {
    "title", "module", "course", "competencies", "roles", "language", "issued",
    "effective", "expires", "superseded_by", "source_url", "tags", "summary",
    # [human loop] trainers' FAQ answers (bot/handoff/faq.py): who reviewed it, when, origin.
    "reviewed_by", "date", "source",
    # Rules that bind only some roles (e.g. one service's leave rules): see Retriever.search.
    "applies_to",
}

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
# The closing hashes of "## Title ##" are stripped in code: a pattern like "(.+?)\s*#*\s*$"
# backtracks in cubic time on a line of spaces ("# a" + 2000 spaces + "b" took 10 s).
# A line that starts a provision in bold, as converted Rules write them: "**Rule 43** ...".
_PROVISION_LINE = re.compile(r"^\s*\*\*(?:Rule|Section|Article|Regulation)\s+\d{1,3}[A-Z]{0,2}\*\*")


class DocumentError(Exception):
    """A document that cannot be read. ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:  # "line 3: bad front matter ..."
        base = super().__str__()
        return f"line {self.line}: {base}" if self.line else base


@dataclass
class Block:
    """A heading (``level`` 1-6) or a paragraph (``level`` 0) of a document."""

    text: str
    level: int = 0
    page: int | None = None


@dataclass
class Document:
    """One parsed document of the knowledge base."""

    source: str  # path relative to the KB folder, with forward slashes
    title: str
    blocks: list[Block]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The document's language code (front matter, else guessed from its script)."""
        return str(self.meta.get("language") or "en")


def parse_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Split an optional YAML front-matter block off a text document.

    Args:
        text: the whole document.

    Returns:
        ``(meta, body, body_line_offset)``; ``meta`` is empty when there is no block.

    Raises:
        DocumentError: the block is not valid YAML, not a mapping (with its line), too
            large, or expands past the YAML limits (an alias bomb, deep nesting).
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text, 0
    if len(match.group(1)) > MAX_META_BYTES:
        raise DocumentError(f"front matter too large (over {MAX_META_BYTES // 1024} KB)", line=1)
    try:
        meta = safe_yaml.load(match.group(1), META_YAML_LIMITS) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for '---', +1 for 1-based
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DocumentError(f"bad front matter: {problem}", line=line) from None
    if not isinstance(meta, dict):
        raise DocumentError("bad front matter: expected key: value pairs", line=2)
    return plain_meta(normalise_meta(meta), "front matter"), text[match.end():], text[: match.end()].count("\n")


def read_front_matter(path: Path) -> dict[str, Any]:
    """The front matter of a text document, read cheaply (only the file's head) and safely.

    Args:
        path: a Markdown or text document.

    Returns:
        Its metadata; empty when there is none, or the file is a link, unreadable or
        its front matter is refused (``kb ingest`` and ``kb validate`` report why).
    """
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return {}
        with open(path, "rb") as handle:
            head = handle.read(MAX_META_BYTES + 4096)  # a front matter within the cap ends in here
        return parse_front_matter(head.decode("utf-8-sig", errors="replace"))[0]
    except (OSError, DocumentError):
        return {}


def plain_meta(meta: dict[str, Any], what: str) -> dict[str, Any]:
    """``meta`` as plain JSON values that share nothing, within :data:`MAX_META_BYTES`.

    YAML aliases make values that share parts; a round trip through JSON expands them
    here, where the size is checked, rather than later in the process writing the index.

    Args:
        meta: normalised metadata.
        what: ``"front matter"`` or the sidecar's name, for the message.

    Returns:
        An equal dict of str, number, bool, None, list and dict values only.

    Raises:
        DocumentError: a value JSON cannot hold (binary, set, date keys) or too large.
    """
    try:
        encoded = json.dumps(meta, ensure_ascii=False, allow_nan=False, default=_json_value)
    except (TypeError, ValueError) as exc:
        raise DocumentError(f"bad {what}: {str(exc)[:120]}") from None
    if len(encoded.encode()) > MAX_META_BYTES:
        raise DocumentError(f"{what} too large once expanded (over {MAX_META_BYTES // 1024} KB)")
    return json.loads(encoded)


def _json_value(value: Any) -> str:
    """JSON for the one non-JSON type front matter legitimately holds: dates."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    raise TypeError(f"values of type {type(value).__name__} are not allowed")


def normalise_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Coerce front-matter values to JSON-friendly types (dates become ISO strings)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, (dt.date, dt.datetime)):
            value = value.isoformat()[:10]
        elif key in {"competencies", "roles", "tags", "applies_to"} and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        out[str(key)] = value
    return out


def load_document(path: Path, kb_dir: Path) -> Document:
    """Read one file of the knowledge folder.

    Args:
        path: the file.
        kb_dir: the knowledge folder (for the relative ``source`` and sidecar lookup).

    Returns:
        The parsed :class:`Document`.

    Raises:
        DocumentError: unsupported, unreadable, empty or malformed document.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}")
    source = path.relative_to(kb_dir).as_posix()
    meta: dict[str, Any] = {}
    if suffix in BINARY_SUFFIXES:
        blocks = _pdf_blocks(path) if suffix == ".pdf" else _docx_blocks(path)
        meta = _sidecar_meta(path)
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"not UTF-8 text (byte {exc.start})") from None
        if "\x00" in text:
            raise DocumentError("binary content in a text file")
        if suffix in HTML_SUFFIXES:
            blocks = _html_blocks(text)
        else:
            meta, body, offset = parse_front_matter(text)
            blocks = _markdown_blocks(body) if suffix != ".txt" else _plain_blocks(body)
            del offset
    blocks = _bounded(blocks)
    if not any(b.text.strip() for b in blocks):
        raise DocumentError("no text found (empty, scanned image, or only markup)")
    title = str(meta.get("title") or _first_heading(blocks) or _title_from_name(path))[:MAX_TITLE_CHARS]
    meta.setdefault("language", script_language(" ".join(b.text for b in blocks[:40])))  # hi or en
    return Document(source=source, title=title, blocks=blocks, meta=meta)


def _bounded(blocks: list[Block]) -> list[Block]:
    """Blocks without space-less runs over :data:`MAX_WORD_CHARS`, headings within :data:`MAX_HEADING_CHARS`.

    Args:
        blocks: what a format reader produced.

    Returns:
        The blocks, with over-long runs dropped, blocks left empty removed and
        over-long headings turned into paragraphs.
    """
    out: list[Block] = []
    for block in blocks:
        text = _drop_long_runs(block.text)
        if not text.strip():
            continue
        level = block.level if len(text) <= MAX_HEADING_CHARS else 0
        out.append(Block(text, level=level, page=block.page))
    return out


def _drop_long_runs(text: str) -> str:
    """``text`` without runs of more than :data:`MAX_WORD_CHARS` non-space characters.

    A run that is long only for its repeated rule characters (the ``|-----|-----|``
    line of a wide Markdown table, a dotted leader) is shortened instead, so tables
    keep their shape. Split and join (linear time) rather than a regex like
    ``\\S{1001,}``, which backtracks quadratically over runs just under the limit.
    """
    if len(text) <= MAX_WORD_CHARS or not any(len(w) > MAX_WORD_CHARS for w in text.split()):
        return text
    kept = []
    for part in re.split(r"(\s+)", text):
        if len(part) > MAX_WORD_CHARS and not part.isspace():
            part = _RULE_RUN.sub(r"\1\1\1", part)
        if len(part) <= MAX_WORD_CHARS or part.isspace():
            kept.append(part)
    return "".join(kept)


_GENERIC_HEADINGS = {"sections", "contents", "arrangement of sections", "index", "preface", "chapter i"}
_TITLE_WORDS = re.compile(r"\b(act|rules|constitution|code|manual|guidelines|handbook|policy|regulations)\b", re.I)


def _first_heading(blocks: list[Block]) -> str | None:
    """A heading that reads like the document's title, or None.

    Converted government texts often open with "SECTIONS", a numbered FAQ question or
    mojibake from a legacy Hindi font; those are not titles. A heading naming an Act,
    Rules or a Constitution among the first few wins; otherwise the first usable one.
    """
    usable: list[str] = []
    for block in [b for b in blocks[:60] if b.level][:10]:
        text = block.text.strip()
        mojibake = sum(1 for c in text if "\u00c0" <= c <= "\u00ff" or c in "/{}") > len(text) / 8
        numbered = bool(re.match(r"^\(?\d", text))
        if mojibake or numbered or len(text.split()) > 18 or text.endswith("?"):
            continue
        if text.lower().strip(" :") in _GENERIC_HEADINGS or not re.search(r"[A-Za-z\u0900-\u097F]{3}", text):
            continue
        if _TITLE_WORDS.search(text):
            return _tidy_caps(text)
        usable.append(text)
    return _tidy_caps(usable[0]) if usable and blocks and blocks[0].level else None


def _tidy_caps(text: str) -> str:
    """"THE RIGHT TO INFORMATION ACT, 2005" -> "The Right to Information Act, 2005"."""
    if not text.isupper():
        return text
    small = {"of", "and", "the", "to", "in", "for", "at", "on", "or", "by"}
    words = text.lower().split()
    return " ".join(w if i and w in small else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _title_from_name(path: Path) -> str:
    name = re.sub(r"[-_]+", " ", path.stem).strip()
    return " ".join(w.upper() if len(w) <= 4 and w.isalpha() and w.lower() not in {"of", "and", "the", "for", "to", "in", "with", "upto", "act", "faq"} and w.lower() in {"rti", "gfr", "dpdp", "posh", "rpwd", "cghs", "dopt", "dopw", "ltc", "ais", "ccs"} else (w if w.lower() in {"of", "and", "the", "for", "to", "in", "with"} else w.capitalize()) for w in name.split())


def _sidecar_meta(path: Path) -> dict[str, Any]:
    """The metadata of ``<path>.meta.yml``, read as carefully as front matter.

    Raises:
        DocumentError: the sidecar is a link or special file, too large, not UTF-8,
            bad YAML, over the YAML limits or not a mapping.
    """
    sidecar = path.with_name(path.name + ".meta.yml")
    try:
        text = safe_yaml.read_text(sidecar, max_bytes=MAX_META_BYTES)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DocumentError(f"bad sidecar {sidecar.name}: {exc}") from None
    try:
        meta = safe_yaml.load(text, META_YAML_LIMITS) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DocumentError(
            f"bad sidecar {sidecar.name}: {problem}", line=mark.line + 1 if mark else None
        ) from None
    if not isinstance(meta, dict):
        raise DocumentError(f"bad sidecar {sidecar.name}: expected key: value pairs")
    return plain_meta(normalise_meta(meta), f"sidecar {sidecar.name}")


def _markdown_blocks(body: str) -> list[Block]:
    """Headings and paragraphs of Markdown, as markdown-it-py (CommonMark + tables) reads them.

    ATX and setext headings become headings, and a line that only looks like a heading
    inside fenced code or a table does not. Everything else keeps its source lines, so a
    passage quotes the trainer's Markdown as written (lists, emphasis, tables, code,
    which the widget renders): a paragraph runs to the next blank line outside fenced
    code, and a line opening a provision in bold ("**Rule 2** ...") starts a new one.

    Args:
        body: the document after its front matter.

    Returns:
        The blocks in document order.
    """
    lines = body.splitlines()
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        text = "\n".join(paragraph).strip()
        if text:
            blocks.append(Block(text))
        paragraph.clear()

    tokens = _markdown_parser().parse(body)
    for i, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        first, stop = token.map
        if first == 0 or not lines[first - 1].strip():
            flush()
        if token.type == "heading_open":
            flush()
            title = re.sub(r"[*_`]+", "", tokens[i + 1].content).strip()
            if title:
                blocks.append(Block(title, level=int(token.tag[1])))
            continue
        fenced = token.type == "fence"
        for line in lines[first:stop]:
            if not line.strip() and not fenced:
                flush()
            elif not fenced and _PROVISION_LINE.match(line):
                flush()  # "**Rule 2** Definition: ..." opens a provision even without a blank line
                paragraph.append(line)
            else:
                paragraph.append(line)
    flush()
    return blocks


def _markdown_parser() -> Any:
    from markdown_it import MarkdownIt  # lazy: only needed for Markdown documents

    # CommonMark plus GFM tables, block structure only: inline parsing (links, emphasis)
    # is not needed to find headings and paragraphs, and costs more than the rest (and is
    # quadratic on runs such as "[[[[...").
    return MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])


def _plain_blocks(body: str, page: int | None = None) -> list[Block]:
    return [Block(p.strip(), page=page) for p in re.split(r"\n\s*\n", body) if p.strip()]


def _html_blocks(text: str) -> list[Block]:
    from bs4 import BeautifulSoup  # lazy: only needed for HTML documents

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header"]):
        tag.decompose()
    blocks: list[Block] = []
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if title:
        blocks.append(Block(title, level=1))
    for element in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "pre"]):
        content = element.get_text(" ", strip=True)
        if not content:
            continue
        if element.name.startswith("h"):
            blocks.append(Block(content, level=int(element.name[1])))
        else:
            blocks.append(Block(("- " if element.name == "li" else "") + content))
    return blocks


def _pdf_blocks(path: Path) -> list[Block]:
    import pypdfium2 as pdfium  # lazy: only needed for PDFs

    from bot.knowledge.pdf_cleanup import clean_pdf_pages

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
            raise DocumentError("encrypted PDF (password protected): save an unprotected copy") from None
        raise DocumentError(f"unreadable PDF ({exc})") from None
    try:
        if len(pdf) > MAX_PDF_PAGES:
            raise DocumentError(f"too many pages ({len(pdf)} > {MAX_PDF_PAGES} limit): split the document")
        pages = []
        for index in range(len(pdf)):
            textpage = pdf[index].get_textpage()
            pages.append(textpage.get_text_range())
    finally:
        pdf.close()
    blocks: list[Block] = []
    for number, text in enumerate(clean_pdf_pages(pages), start=1):
        blocks.extend(_plain_blocks(text, page=number))
    return blocks


def _check_unzipped_size(path: Path) -> None:
    """Refuse a DOCX (a zip) whose parts would inflate past :data:`MAX_UNZIPPED_BYTES`.

    The sizes come from the zip's directory, so a zip bomb is refused without
    inflating a byte; a directory that lies is caught by the child's memory cap.

    Raises:
        DocumentError: too many parts or too large once inflated.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip at all: python-docx reports it as unreadable
    if len(parts) > MAX_ZIP_ENTRIES:
        raise DocumentError(f"unreadable DOCX: {len(parts)} parts (over the {MAX_ZIP_ENTRIES} limit)")
    inflated = sum(part.file_size for part in parts)
    if inflated > MAX_UNZIPPED_BYTES:
        raise DocumentError(f"DOCX expands to {inflated // 1048576} MB when unzipped "
                            f"(over the {MAX_UNZIPPED_BYTES // 1048576} MB limit: a zip bomb?)")


def _docx_blocks(path: Path) -> list[Block]:
    import docx  # lazy: python-docx
    from docx.table import Table

    _check_unzipped_size(path)
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises several unrelated types on bad zips
        raise DocumentError(f"unreadable DOCX ({type(exc).__name__})") from None
    blocks: list[Block] = []
    # Paragraphs and tables in the order they appear: a table of leave entitlements or
    # fees sits under the heading that introduces it.
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            blocks.extend(Block(row) for row in _table_rows(part))
            continue
        text = part.text.strip()
        if not text:
            continue
        style = (part.style.name or "") if part.style is not None else ""
        match = re.match(r"Heading (\d)", style)
        blocks.append(Block(text, level=int(match.group(1)) if match else (1 if style == "Title" else 0)))
    return blocks


def _table_rows(table: Any) -> list[str]:
    """A DOCX table as one line per row, each cell named by its column's header.

    A cell merged across columns (python-docx repeats it per column) is read once, so
    the columns after it keep their headers.

    Args:
        table: a ``docx.table.Table``.

    Returns:
        One text line per non-empty row (see :func:`_named_rows`).
    """
    rows = []
    for row in table.rows:
        cells: list[str] = []
        merged: list[object] = []
        for cell in row.cells:
            if cell._tc in merged:  # the same cell element again: merged across columns
                continue
            merged.append(cell._tc)
            cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    return _named_rows(rows)


def _named_rows(rows: list[list[str]]) -> list[str]:
    """Table rows as sentences, each cell named by its column's header.

    "Leave: Casual leave; Days per year: 8." can be found, quoted and cited on its own,
    where the cells read in order ("Casual leave 8") lose what the number means. The
    first row is the header when the table has more than one row and column.

    Args:
        rows: the cells' text, row by row.

    Returns:
        One line per non-empty row.
    """
    if len(rows) < 2 or len(rows[0]) < 2:
        return [_as_sentence(line) for line in ("; ".join(c for c in cells if c) for cells in rows) if line]
    header, body = rows[0], rows[1:]
    lines = []
    for cells in body:
        named = [f"{header[i]}: {text}" if i < len(header) and header[i] else text
                 for i, text in enumerate(cells) if text]
        if named:
            lines.append(_as_sentence("; ".join(named)))
    return lines


def _as_sentence(line: str) -> str:
    """``line`` ending in a full stop, so a row reads (and is quoted) as one sentence."""
    return line if line[-1] in ".!?।" else line + "."
