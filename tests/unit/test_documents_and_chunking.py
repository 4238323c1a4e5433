"""Reading documents and cutting them into citation-ready chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.chunking import chunk_document, split_sentences
from bot.knowledge.documents import DocumentError, load_document, parse_front_matter
from bot.knowledge.pdf_cleanup import clean_pdf_pages
from tests.conftest import write


def test_front_matter_is_parsed_and_dates_become_iso_strings(kb_dir: Path) -> None:
    doc = load_document(kb_dir / "modules" / "rti.md", kb_dir)
    assert doc.title == "RTI for Public Information Officers"
    assert doc.meta["effective"] == "2025-04-01"
    assert doc.meta["roles"] == ["public-information-officer"]
    assert doc.source == "modules/rti.md"


def test_bad_front_matter_reports_its_line() -> None:
    with pytest.raises(DocumentError) as err:
        parse_front_matter("---\ntitle: ok\ncompetencies: [unclosed\n---\n# Body\n")
    assert err.value.line is not None and err.value.line >= 3
    assert "front matter" in str(err.value)


def test_title_defaults_to_first_heading_then_file_name(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# Office procedure basics\n\nText here.\n")
    write(tmp_path / "noting-and-drafting.txt", "Plain text without headings.\n")
    assert load_document(tmp_path / "a.md", tmp_path).title == "Office procedure basics"
    assert load_document(tmp_path / "noting-and-drafting.txt", tmp_path).title == "Noting and Drafting"


def test_html_document_drops_scripts_and_keeps_headings(tmp_path: Path) -> None:
    write(tmp_path / "p.html", "<html><head><title>Grievances</title><script>alert(1)</script></head>"
          "<body><h2>Timelines</h2><p>Dispose of a grievance within 21 days.</p></body></html>")
    doc = load_document(tmp_path / "p.html", tmp_path)
    texts = [b.text for b in doc.blocks]
    assert "Timelines" in texts and not any("alert" in t for t in texts)


def test_hindi_document_is_detected_as_hindi(tmp_path: Path) -> None:
    write(tmp_path / "hi.md", "# सूचना का अधिकार\n\nलोक सूचना अधिकारी को तीस दिन में उत्तर देना होता है।\n")
    assert load_document(tmp_path / "hi.md", tmp_path).language == "hi"


def test_sentences_split_at_ends_but_not_after_abbreviations() -> None:
    text = "The fee is Rs. 10 per request. A reply is due in 30 days. देखें धारा 7। अगला वाक्य।"
    assert split_sentences(text) == [
        "The fee is Rs. 10 per request.", "A reply is due in 30 days.", "देखें धारा 7।", "अगला वाक्य।",
    ]


def test_chunks_carry_heading_anchor_and_metadata(kb_dir: Path) -> None:
    chunks = chunk_document(load_document(kb_dir / "modules" / "rti.md", kb_dir))
    anchors = [c.anchor for c in chunks]
    assert anchors == ["1. Fees", "2. Time limits"]
    assert chunks[1].citation == "RTI for Public Information Officers — 2. Time limits"
    assert chunks[1].meta["roles"] == ["public-information-officer"]
    assert "48 hours" in chunks[1].text


def test_numbered_provisions_of_an_act_become_section_anchors(tmp_path: Path) -> None:
    write(tmp_path / "act.md", """
        # The Right to Information Act, 2005

        6. Request for obtaining information. -(1) A person who desires information shall make a request.

        7. Disposal of request. -(1) The PIO shall reply within thirty days.
        """)
    chunks = chunk_document(load_document(tmp_path / "act.md", tmp_path))
    assert [c.anchor for c in chunks] == ["Section 6(1) (Request for obtaining information)",
                                          "Section 7(1) (Disposal of request)"]


def test_each_faq_entry_is_its_own_chunk_cited_by_its_question(tmp_path: Path) -> None:
    write(tmp_path / "faq.md", """
        **Frequently Asked Questions**

        **(1.2)** **Is the date of voluntary retirement treated as duty?**
        Yes, the date of voluntary retirement is treated as duty (Rule 5).

        **(1.3)** **Who is eligible for pension? A Govt. servant with ten years of qualifying**
        **service in a pensionable establishment.**
        Such a servant is eligible for pension (Rule 2, 49).

        Q4 Officers of which services are eligible for these programmes?
        A: Group A officers with at least 7 years of service.
        """)
    chunks = chunk_document(load_document(tmp_path / "faq.md", tmp_path))
    assert [c.anchor for c in chunks] == [
        "Faq",  # the title, from the file name
        "(1.2) Is the date of voluntary retirement treated as duty?",
        "(1.3) Who is eligible for pension? A Govt. servant with ten years of qualifying service in a…",
        "Q4 Officers of which services are eligible for these programmes?",
    ]
    assert chunks[1].text.endswith("(Rule 5).")  # the answer travels with its question only
    assert "Group A officers" in chunks[3].text and "Rule 5" not in chunks[3].text


def test_bold_labels_headings_and_numbered_paragraphs_are_not_faq_questions(tmp_path: Path) -> None:
    write(tmp_path / "rules.md", """
        # Study leave

        _**To whom?**_ Permanent Government servants with five years of service.

        ## **5. What is the**
        **definition of the word family for this scheme?**
        Spouse and dependent children.

        **3.2 Casual leave is governed by executive instructions.** It is not a recognised leave.
        """)
    chunks = chunk_document(load_document(tmp_path / "rules.md", tmp_path))
    assert [c.anchor for c in chunks] == ["Study leave", "5. What is the"]
    assert "To whom?" in chunks[0].text and "definition of the word family" in chunks[1].text
    assert "3.2 Casual leave" in chunks[1].text


def test_chunks_are_anchored_to_the_sub_section_and_clause_they_cover(tmp_path: Path) -> None:
    filler = " ".join(["The officer shall act on it without delay."] * 3)  # one chunk per paragraph
    write(tmp_path / "act.md", f"""
        # The Right to Information Act, 2005

        7. Disposal of request. -(1) The PIO shall reply within thirty days. {filler}

        Provided that life or liberty requests are answered within forty-eight hours. {filler}

        (2) If the PIO fails to decide in time, the request is deemed refused. {filler}

        (3) Where further fees are charged, the PIO shall send an intimation giving -

        (a) the details of further fees with the calculations. {filler}

        (b) information about the right to a review. {filler}

        (i) first item of a list inside the clause. {filler}

        (ii) second item of that list. {filler}

        8. Exemption from disclosure of information. -Nothing in this Act obliges disclosure.
        """)
    chunks = chunk_document(load_document(tmp_path / "act.md", tmp_path), max_words=40)
    by_start = {c.text.split()[0] if not c.text.startswith("7.") else "7.": c.anchor for c in chunks}
    assert by_start["7."] == "Section 7(1) (Disposal of request)"
    assert by_start["Provided"] == "Section 7(1) (Disposal of request)"  # a proviso stays in (1)
    assert by_start["(2)"] == "Section 7(2) (Disposal of request)"
    assert by_start["(a)"] == "Section 7(3)(a) (Disposal of request)"
    # "(i)" followed by "(ii)" is a list inside (b), not clause (i): the anchor stays at (b).
    assert by_start["(i)"] == by_start["(ii)"] == "Section 7(3)(b) (Disposal of request)"
    assert by_start["8."] == "Section 8 (Exemption from disclosure of information)"


def test_a_chunk_spanning_sub_sections_names_the_range() -> None:
    from bot.knowledge.chunking import with_subdivision

    anchor = "Section 7 (Disposal of request)"
    assert with_subdivision(anchor, ("2",), ("3",)) == "Section 7(2)–(3) (Disposal of request)"
    assert with_subdivision(anchor, ("3", "a"), ("3", "b")) == "Section 7(3)(a)–(b) (Disposal of request)"
    assert with_subdivision(anchor, ("1",), ("1", "b")) == "Section 7(1) (Disposal of request)"
    assert with_subdivision(anchor, (), ("2",)) == anchor
    assert with_subdivision("2. Time limits", ("1",), ("1",)) == "2. Time limits"


def test_long_sections_split_on_sentences_under_the_cap(tmp_path: Path) -> None:
    sentence = "The officer shall record every receipt in the register before it is sent onwards."
    write(tmp_path / "long.md", "# Long\n\n## 1. Receipts\n\n" + " ".join([sentence] * 40) + "\n")
    chunks = chunk_document(load_document(tmp_path / "long.md", tmp_path), max_words=60)
    assert len(chunks) > 5
    assert all(len(c.text.split()) <= 60 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # never cut mid-sentence
    assert len({c.id for c in chunks}) == len(chunks)


def test_pdf_cleanup_removes_running_headers_and_joins_broken_lines() -> None:
    bodies = ["The officer shall\nreply within thirty\ndays.", "Appeals lie to the\nfirst appellate authority.",
              "Fees are paid by\npostal order.", "Records are kept for\nten years.", "Inspection is free for\nan hour."]
    pages = [f"Ministry of Personnel\n{body}\n\nPage {n} of 5" for n, body in enumerate(bodies, start=1)]
    cleaned = clean_pdf_pages(pages)
    assert all("Ministry of Personnel" not in page and "Page" not in page for page in cleaned)
    assert cleaned[0] == "The officer shall reply within thirty days."
