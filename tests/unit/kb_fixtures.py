"""Real documents generated at test time: PDFs (with a text layer), DOCX, hostile files.

Nothing binary is committed: PDFs are written with PDFium itself (pypdfium2, the
library the loader reads them with), DOCX with python-docx, and the hostile files
(truncated, random, encrypted, sparse 200 MB, YAML alias bombs, a zip bomb ...) byte
by byte. :func:`run_capped` runs code that a regression would let explode under a
memory cap, so that a failing test fails fast instead of exhausting the machine.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import resource
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: A Devanagari TrueType font (Debian ``fonts-lohit-deva``, also used by the browser tests).
DEVANAGARI_FONTS = [
    Path("/usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf"),
]


def devanagari_font() -> Path | None:
    """The first installed Devanagari font, or None."""
    return next((p for p in DEVANAGARI_FONTS if p.exists()), None)


def make_pdf(path: Path, pages: list[list[str]], font_file: Path | None = None) -> Path:
    """Write a PDF whose pages carry the given lines as real text objects.

    Args:
        path: where to write.
        pages: for each page, its lines from top to bottom.
        font_file: a TrueType font to embed (needed for Devanagari); Helvetica otherwise.

    Returns:
        ``path``.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    document = pdfium.PdfDocument.new()
    keep_alive = []  # ctypes buffers must outlive the calls that read them
    if font_file is not None:
        data = font_file.read_bytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        keep_alive.append(buffer)
        font = raw.FPDFText_LoadFont(document, buffer, len(data), raw.FPDF_FONT_TRUETYPE, True)
    else:
        font = raw.FPDFText_LoadStandardFont(document, b"Helvetica")
    for lines in pages:
        page = document.new_page(595, 842)
        y = 800.0
        for line in lines:
            text_object = raw.FPDFPageObj_CreateTextObj(document, font, 11.0)
            wide = ctypes.create_string_buffer((line + "\x00").encode("utf-16-le"))
            keep_alive.append(wide)
            raw.FPDFText_SetText(text_object, ctypes.cast(wide, ctypes.POINTER(raw.FPDF_WCHAR)))
            raw.FPDFPageObj_Transform(text_object, 1, 0, 0, 1, 40, y)
            raw.FPDFPage_InsertObject(page, text_object)
            y -= 16
        raw.FPDFPage_GenerateContent(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    document.close()
    return path


def make_encrypted_pdf(path: Path) -> Path:
    """A PDF protected by the standard security handler with an unknown user password.

    Hand-written: one page, an ``/Encrypt`` dictionary (RC4, revision 2) whose
    ``/U`` entry does not match the empty password, so readers must ask for one.
    """
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length 8 >>\nstream\n\x93\x1f\x02\xa7\x10\x55\x8e\x01\nendstream",
        b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Encrypt 5 0 R "
            f"/ID [<{'ab' * 16}> <{'ab' * 16}>] >>\nstartxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(bytes(out))
    return path


def make_docx(path: Path, parts: list[tuple[int, str]]) -> Path:
    """Write a DOCX: ``(level, text)`` pairs, level 0 = paragraph, 1-3 = heading."""
    import docx

    document = docx.Document()
    for level, text in parts:
        if level:
            document.add_heading(text, level=level)
        else:
            document.add_paragraph(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def make_hostile_folder(folder: Path, outside: Path) -> dict[str, str]:
    """Fill ``folder`` with hostile files; returns ``source -> expected reason word``.

    Args:
        folder: the knowledge folder (files go under ``modules/``).
        outside: a folder outside the knowledge folder (symlink target lives there).
    """
    modules = folder / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    good_pdf = make_pdf(outside / "good.pdf", [["Section 1. Intro. - Some real text here."]] * 3)
    data = good_pdf.read_bytes()
    (modules / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (modules / "random.pdf").write_bytes(os.urandom(8192))
    make_encrypted_pdf(modules / "encrypted.pdf")
    (modules / "zero.md").write_bytes(b"")
    secret = outside / "secret.md"
    secret.write_text("# Secret\n\nThe launch code is 0000.\n", encoding="utf-8")
    (modules / "link-outside.md").symlink_to(secret)
    with open(modules / "huge.pdf", "wb") as handle:  # sparse: 200 MB that costs no disk
        handle.truncate(200 * 1024 * 1024)
    (modules / "bad-front-matter.md").write_text(
        "---\ntitle: Broken\nroles: [unclosed\n---\n# Broken\n\nText.\n", encoding="utf-8")
    return {
        "modules/truncated.pdf": "PDF", "modules/random.pdf": "PDF", "modules/encrypted.pdf": "encrypted",
        "modules/zero.md": "empty", "modules/link-outside.md": "outside", "modules/huge.pdf": "too large",
        "modules/bad-front-matter.md": "line 3",
    }


def alias_bomb(key: str = "title", levels: int = 10, width: int = 9) -> str:
    """YAML lines (about 400 bytes) whose ``key`` expands to ``width ** levels`` strings.

    Ten levels of nine: 3.5 billion strings, tens of GB once printed or serialised,
    while ``yaml.safe_load`` itself returns at once (the lists are shared).
    """
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * width) + "]"]
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    lines.append(f"{key}: *{names[-1]}")
    return "\n".join(lines) + "\n"


def deep_yaml(key: str = "tags", depth: int = 5000) -> str:
    """A YAML line nesting ``depth`` flow lists: the recursive composer overflows on it."""
    return f"{key}: " + "[" * depth + "]" * depth + "\n"


def make_zip_bomb_docx(path: Path, inflated_mb: int) -> Path:
    """A valid DOCX whose main part is padded with whitespace to inflate to ``inflated_mb``.

    Whitespace compresses about 1000:1, so the file is small and quick to write.
    """
    plain = make_docx(path.with_name(path.name + ".plain"), [(1, "Zip"), (0, "Some text.")])
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            data = source.read(info)
            if info.filename != "word/document.xml":
                bomb.writestr(info, data)
                continue
            head, tail = data.rsplit(b"</w:document>", 1)
            with bomb.open(info.filename, "w", force_zip64=True) as part:
                part.write(head)
                block = b" " * (1 << 20)
                for _ in range(inflated_mb):
                    part.write(block)
                part.write(b"</w:document>" + tail)
    plain.unlink()
    return path


def make_hostile_text_folder(folder: Path, outside: Path) -> dict[str, str | None]:
    """Hostile files of every text format and of metadata; returns ``source -> reason word``.

    A reason word of None marks a file that may be indexed (its content is harmless once
    bounded) or skipped; either way it must not stop anything else.

    Args:
        folder: the knowledge folder (documents go under ``modules/``).
        outside: a folder outside it.
    """
    modules = folder / "modules"
    modules.mkdir(parents=True, exist_ok=True)

    def doc(name: str, front: str, body: str = "# Heading\n\nSome text.\n") -> None:
        (modules / name).write_text(f"---\n{front}---\n{body}", encoding="utf-8")

    doc("alias-bomb.md", alias_bomb("title"))
    doc("deep-front-matter.md", deep_yaml())
    doc("self-reference.md", "tags: &a [*a]\n")
    doc("big-number.md", "module: " + "1" * 5000 + "\n")
    doc("binary-value.md", "title: Logo\nlogo: !!binary aGVsbG8=\n")
    doc("date-keys.md", "title: Dates\nissued: {2024-01-01: first}\n")
    doc("huge-front-matter.md", "summary: " + "x" * 100_000 + "\n")
    (modules / "garbage.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 64)
    (modules / "latin1.md").write_bytes("# Café\n\nCafé au lait.\n".encode("latin-1"))
    (modules / "nul.txt").write_bytes(b"Some text\x00more text\n")
    (modules / "one-long-line.md").write_text("x" * 3_000_000 + "\n", encoding="utf-8")
    # "# a" + spaces + "b": the old heading pattern backtracked in cubic time on it
    (modules / "regex-trap.md").write_text("# a" + " " * 3000 + "b\n\nLeave regex traps alone.\n",
                                           encoding="utf-8")
    (modules / "laughs.html").write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "' + f"&lol{i - 1 or ''};" * 10 + '">' for i in range(1, 10))
        + "]><html><body><p>&lol9;</p></body></html>\n", encoding="utf-8")
    bomb_pdf = make_pdf(modules / "bomb-sidecar.pdf", [["Section 1. Intro. - Some text."]])
    bomb_pdf.with_name(bomb_pdf.name + ".meta.yml").write_text(alias_bomb("tags"), encoding="utf-8")
    link_pdf = make_pdf(modules / "link-sidecar.pdf", [["Section 1. Intro. - Some text."]])
    link_pdf.with_name(link_pdf.name + ".meta.yml").symlink_to("/dev/zero")
    make_zip_bomb_docx(modules / "zip-bomb.docx", inflated_mb=40)
    return {
        "modules/alias-bomb.md": "alias", "modules/deep-front-matter.md": "nested",
        "modules/self-reference.md": "refers to itself", "modules/big-number.md": "cannot be read",
        "modules/binary-value.md": "not allowed", "modules/date-keys.md": "front matter",
        "modules/huge-front-matter.md": "too large", "modules/garbage.md": "UTF-8",
        "modules/latin1.md": "UTF-8", "modules/nul.txt": "binary", "modules/one-long-line.md": "no text",
        "modules/bomb-sidecar.pdf": "alias", "modules/link-sidecar.pdf": "link",
        "modules/zip-bomb.docx": "zip bomb", "modules/laughs.html": None,
    }


def run_capped(function: Callable[..., Any], *args: Any, memory_mb: int = 1024, timeout: float = 120) -> Any:
    """``function(*args)`` in a forked child whose address space may grow by ``memory_mb``.

    Args:
        function: what to run (it and its result must survive the fork and a pickle).
        args: its arguments.
        memory_mb: the growth allowed over what the child maps at the fork.
        timeout: seconds before the child is killed.

    Returns:
        What ``function`` returned.

    Raises:
        AssertionError: it raised (its type and message), ran out of memory or time.
    """
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def target() -> None:
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            sender.send(("ok", function(*args)))
        except BaseException as exc:  # reported to the test, whatever it is
            sender.send(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))

    child = ctx.Process(target=target)  # not a daemon: the code under test forks parse children
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise AssertionError(f"still running after {timeout:.0f} s")
        try:
            kind, value = receiver.recv()
        except EOFError:
            raise AssertionError("the child died (over its memory cap?)") from None
    finally:
        child.kill()
        child.join(10)
        receiver.close()
    if kind == "error":
        raise AssertionError(value)
    return value
