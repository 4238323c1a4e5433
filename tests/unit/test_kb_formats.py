"""Every format a trainer may drop in, read from real files generated at test time."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.knowledge import documents
from bot.knowledge.chunking import chunk_document
from bot.knowledge.documents import load_document
from bot.knowledge.loader import LoadFailure, load_safely
from tests.conftest import write
from tests.unit.kb_fixtures import devanagari_font, make_docx, make_encrypted_pdf, make_pdf

HEADER = "Department of Personnel and Training - RTI Manual"


def _manual_pages() -> list[list[str]]:
    """Four pages with a running header, page numbers and lines broken at the margin."""
    return [
        [HEADER, "6. Request for obtaining information. - A person who desires",
         "information shall make a request in writing to the Public", "Information Officer.", "Page 1 of 4"],
        [HEADER, "7. Disposal of request. - The Public Information Officer shall",
         "reply within thirty days of the receipt of the request.", "Page 2 of 4"],
        [HEADER, "Where the information concerns the life or liberty of a person,",
         "it shall be provided within forty-eight hours.", "Page 3 of 4"],
        [HEADER, "8. Exemption from disclosure of information. - Information whose",
         "disclosure would harm the sovereignty of India is exempt.", "Page 4 of 4"],
    ]


def test_pdf_text_layer_with_sidecar_metadata_gives_clean_page_cited_chunks(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "manuals" / "rti-manual.pdf", _manual_pages())
    write(pdf.with_name("rti-manual.pdf.meta.yml"), """
        title: "The Right to Information Act, 2005 (extract)"
        module: rti-for-pios
        roles: [public-information-officer]
        effective: 2005-10-12
        """)
    doc = load_document(pdf, tmp_path)
    assert doc.title == "The Right to Information Act, 2005 (extract)"
    assert doc.meta["module"] == "rti-for-pios" and doc.meta["effective"] == "2005-10-12"
    chunks = chunk_document(doc)
    assert not any(HEADER in c.text or "Page 2" in c.text for c in chunks)  # running noise is gone
    by_anchor = {(c.anchor, c.page): c for c in chunks}
    first = by_anchor[("Section 6 (Request for obtaining information)", 1)]
    # lines broken at the margin are re-joined into one sentence
    assert "request in writing to the Public Information Officer." in first.text
    assert ("Section 7 (Disposal of request)", 3) in by_anchor  # a section continuing onto page 3
    assert by_anchor[("Section 8 (Exemption from disclosure of information)", 4)].citation.endswith("page 4")
    assert all(c.meta["roles"] == ["public-information-officer"] for c in chunks)


def test_hindi_pdf_text_layer_is_recovered_and_detected_as_hindi(tmp_path: Path) -> None:
    font = devanagari_font()
    if font is None:
        pytest.skip("no Devanagari font installed (Debian package fonts-lohit-deva)")
    lines = ["सूचना का अधिकार अधिनियम", "लोक सूचना अधिकारी तीस दिन में उत्तर देगा।"]
    pdf = make_pdf(tmp_path / "rti-hi.pdf", [lines], font_file=font)
    doc = load_document(pdf, tmp_path)
    assert doc.language == "hi"
    text = " ".join(b.text for b in doc.blocks)
    assert "सूचना का अधिकार अधिनियम" in text and "तीस दिन में उत्तर देगा।" in text


def test_docx_headings_become_the_heading_path_and_sidecar_applies(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "grievances.docx", [
        (1, "Handling public grievances"),
        (2, "1. Registration"),
        (0, "Every grievance is registered on CPGRAMS. The officer acknowledges it the same day."),
        (2, "2. Disposal"),
        (0, "A grievance is disposed of within 21 days. Delays are explained to the citizen."),
    ])
    write(tmp_path / "grievances.docx.meta.yml", "module: grievance-redressal\nlanguage: en\nroles: section-officer\n")
    doc = load_document(path, tmp_path)
    assert doc.title == "Handling public grievances"
    assert doc.meta["roles"] == ["section-officer"]  # a comma list becomes a list
    chunks = chunk_document(doc)
    assert [c.anchor for c in chunks] == ["1. Registration", "2. Disposal"]
    assert chunks[1].heading_path == ["2. Disposal"] and "21 days" in chunks[1].text


def test_bad_sidecar_is_reported_with_its_line(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "x.docx", [(1, "X"), (0, "Some text.")])
    write(tmp_path / "x.docx.meta.yml", "title: ok\nroles: [a\n")
    with pytest.raises(documents.DocumentError, match="bad sidecar x.docx.meta.yml"):
        load_document(path, tmp_path)


def test_encrypted_pdf_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    result = load_safely(make_encrypted_pdf(tmp_path / "locked.pdf"), tmp_path)
    assert isinstance(result, LoadFailure)
    assert "encrypted PDF (password protected)" in result.reason


def test_pdf_over_the_page_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_PDF_PAGES", 2)
    pdf = make_pdf(tmp_path / "long.pdf", [["Some text."]] * 3)
    result = load_safely(pdf, tmp_path)
    assert isinstance(result, LoadFailure) and "too many pages (3 > 2" in result.reason


def test_a_parser_that_hangs_is_killed_after_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child is forked, so it inherits this patch: a real child process that hangs.
    monkeypatch.setattr(documents, "_pdf_blocks", lambda path: time.sleep(60))
    pdf = make_pdf(tmp_path / "slow.pdf", [["Text."]])
    started = time.monotonic()
    result = load_safely(pdf, tmp_path, timeout=0.5)
    assert isinstance(result, LoadFailure) and "longer than" in result.reason
    assert time.monotonic() - started < 10


def test_constitution_footnotes_and_hyphenated_names_do_not_make_false_articles(tmp_path: Path) -> None:
    write(tmp_path / "c.md", """
        # The Constitution of India

        19. Protection of certain rights regarding freedom of speech, etc.- (1) All citizens shall have the right.

        2. Subs. by the Constitution (Seventh Amendment) Act, 1956, s. 2, for cl. (2) (w.e.f. 1-11-1956).

        1. Added by the Constitution (Forty-second Amendment) Act, 1976.

        57. Eligibility for re-election.- A person who holds office as President shall be eligible for re-election.

        63. The Vice-President of India. -There shall be a Vice-President of India.

        ## FIRST SCHEDULE

        1. Andhra Pradesh. - The territories specified in the Act.
        """)
    anchors = [c.anchor for c in chunk_document(load_document(tmp_path / "c.md", tmp_path))]
    # the two footnotes stay inside Article 19 instead of opening "Article 2 (Subs)" / "Article 1 (Added ...)"
    assert anchors == [
        "Article 19(1) (Protection of certain rights regarding freedom of speech, etc)",
        "Article 57 (Eligibility for re-election)",
        "Article 63 (The Vice-President of India)",
        "1. Andhra Pradesh",  # numbering inside a schedule is not an Article
    ]


def test_bold_rules_open_provisions_even_mid_paragraph_and_headings_can_be_sections(tmp_path: Path) -> None:
    write(tmp_path / "gfr.md", """
        # General Financial Rules 2017

        **Rule 1** **Short Title and Commencement** : These rules may be called the General Financial Rules.
        **Rule 2** **Definition:** In these rules, unless the context otherwise requires, words mean this.
        Rule 26 of another text is mentioned here: it is only a reference.
        """)
    write(tmp_path / "act.md", """
        # The Right to Information Act, 2005

        16. Term of office. - The State Chief Information Commissioner holds office for five years.

        ## 17. Removal of State Chief Information Commissioner. -

        (1) The Governor may remove the State Chief Information Commissioner by order.
        """)
    gfr = [c.anchor for c in chunk_document(load_document(tmp_path / "gfr.md", tmp_path))]
    assert gfr == ["Rule 1 (Short Title and Commencement)", "Rule 2 (Definition)"]
    act = [c.anchor for c in chunk_document(load_document(tmp_path / "act.md", tmp_path))]
    assert act == ["Section 16 (Term of office)", "Section 17(1) (Removal of State Chief Information Commissioner)"]


@pytest.mark.slow
def test_anchors_of_the_real_corpus_follow_each_texts_numbering() -> None:
    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus not present")
    expected = {"rti-act-2005.md": ("Section", 31), "constitution-of-india-2024.md": ("Article", 300),
                "gfr-2017-upto-2024-07-31.md": ("Rule", 150)}
    for name, (word, minimum) in expected.items():
        chunks = chunk_document(load_document(corpus / name, corpus))
        anchors = {c.anchor for c in chunks}
        numbered = {a for a in anchors if a.startswith(word + " ")}
        assert len(numbered) >= minimum, (name, len(numbered))
        assert not any(" (Sub" + ")" in a or a.endswith("(Subs)") or "(Added by" in a for a in numbered), name
        assert not any("  " in a for a in anchors), name  # PDF double spaces are collapsed
    rti = {c.anchor for c in chunk_document(load_document(corpus / "rti-act-2005.md", corpus))}
    assert {"Section 7(1) (Disposal of request)", "Section 7(9) (Disposal of request)"} <= rti
    assert any(re.match(r"Section 17(\(\d+\))? \(Removal of State Chief Information Commissioner", a) for a in rti)


def test_docx_tables_are_read_in_place_each_row_with_its_headers(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Leave entitlements", level=1)
    document.add_paragraph("The table gives the days allowed in a calendar year.")
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(table.rows, [("Leave", "Days per year", "Notes"),
                                        ("Casual leave", "8", "Not carried forward"),
                                        ("Earned leave", "30", "")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    merged = document.add_table(rows=2, cols=3)
    merged.rows[0].cells[0].text, merged.rows[0].cells[2].text = "Authority", "Form"
    merged.rows[0].cells[0].merge(merged.rows[0].cells[1])  # a header over two columns
    merged.rows[1].cells[0].text, merged.rows[1].cells[2].text = "Head of Office", "Form 3"
    merged.rows[1].cells[0].merge(merged.rows[1].cells[1])
    document.add_heading("Sanction", level=2)
    document.add_paragraph("Leave is sanctioned by the controlling officer.")
    path = tmp_path / "leave.docx"
    document.save(str(path))

    doc = load_document(path, tmp_path)
    texts = [b.text for b in doc.blocks]
    assert texts[2:5] == ["Leave: Casual leave; Days per year: 8; Notes: Not carried forward.",
                          "Leave: Earned leave; Days per year: 30.",
                          "Authority: Head of Office; Form: Form 3."]
    chunks = chunk_document(doc)
    assert "Leave: Earned leave; Days per year: 30." in chunks[0].text
    assert chunks[0].anchor == "Leave entitlements"
    assert chunks[-1].anchor == "Sanction" and "Days per year" not in chunks[-1].text


def test_markdown_setext_headings_are_headings_and_tables_and_code_stay_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "leave.md", (
        "Leave rules\n===========\n\n"
        "Casual leave\n------------\nEight days a year.\n\n"
        "| Leave | Days |\n|---|---|\n| Casual | 8 |\n| Earned | 30 |\n\n"
        "```\n# not a heading\n\nstill code\n```\n\n"
        "Earned leave\n------------\nThirty days a year.\n"))
    doc = load_document(path, tmp_path)
    assert [(b.level, b.text) for b in doc.blocks] == [
        (1, "Leave rules"), (2, "Casual leave"), (0, "Eight days a year."),
        (0, "| Leave | Days |\n|---|---|\n| Casual | 8 |\n| Earned | 30 |"),
        (0, "```\n# not a heading\n\nstill code\n```"),
        (2, "Earned leave"), (0, "Thirty days a year."),
    ]
    assert doc.title == "Leave rules"
    assert [c.anchor for c in chunk_document(doc)] == ["Casual leave", "Earned leave"]
