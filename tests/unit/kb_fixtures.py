"""Real documents generated at test time: PDFs (with a text layer), DOCX, hostile files.

Nothing binary is committed: PDFs are written with PDFium itself (pypdfium2, the
library the loader reads them with), DOCX with python-docx, and the hostile files
(truncated, random, encrypted, sparse 200 MB ...) byte by byte.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

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
