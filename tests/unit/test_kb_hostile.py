"""Hostile files are skipped with a reason, listed by ``kb status``; good files still index."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.knowledge import documents, loader
from bot.knowledge.chunking import chunk_document
from bot.knowledge.documents import Document, DocumentError, parse_front_matter
from bot.knowledge.index import current_version_dir, read_chunks, read_meta, update_index
from bot.knowledge.loader import LoadFailure, load_safely
from bot.knowledge.search import Retriever
from bot.knowledge.text import Glossary, GlossaryError, cached_glossary
from tests.conftest import LEAVE_MODULE, FakeEmbedder, write
from tests.unit.kb_fixtures import (
    alias_bomb,
    deep_yaml,
    make_docx,
    make_hostile_folder,
    make_hostile_text_folder,
    make_pdf,
    make_zip_bomb_docx,
    run_capped,
)

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TUTOR_EMBEDDERS": "hash", "PYTHONPATH": str(ROOT), **extra}


def test_hostile_folder_through_kb_ingest_and_kb_status(tmp_path: Path) -> None:
    kb, index, outside = tmp_path / "kb", tmp_path / "index", tmp_path / "outside"
    outside.mkdir()
    expected = make_hostile_folder(kb, outside)
    write(kb / "modules" / "leave.md", LEAVE_MODULE)
    make_pdf(kb / "modules" / "rti-extract.pdf",
             [["The Right to Information Act, 2005", "7. Disposal of request. - Reply within thirty days."]])
    ingest = subprocess.run([sys.executable, "-m", "bot.kb.cli", "ingest", "--kb", str(kb),
                             "--index", str(index), "--json"], env=_env(TUTOR_MAX_DOC_MB="100"),
                            capture_output=True, text=True, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    report = json.loads(ingest.stdout)
    assert sorted(report["added"]) == ["modules/leave.md", "modules/rti-extract.pdf"]
    for source, word in expected.items():
        assert word in report["failed"][source], (source, report["failed"].get(source))
    # one clear log line per skipped file, naming it
    for source in expected:
        assert source in ingest.stderr or source in report["failed"]
    status = subprocess.run([sys.executable, "-m", "bot.kb.cli", "status", "--kb", str(kb),
                             "--index", str(index)], env=_env(), capture_output=True, text=True, timeout=60)
    assert status.returncode == 0
    assert f"{len(expected)} file(s) not indexed:" in status.stdout
    for source in expected:
        assert f"  {source}: " in status.stdout
    assert {c.source for c in read_chunks(current_version_dir(index))} == {"modules/leave.md",
                                                                         "modules/rti-extract.pdf"}
    hits = Retriever(index).search("reply within thirty days", k=3).hits
    assert hits[0].chunk.source == "modules/rti-extract.pdf"
    assert not any("launch code" in c.text for c in read_chunks(current_version_dir(index)))


def test_a_hanging_pdf_is_stopped_and_not_parsed_again_while_unchanged(kb_dir: Path, tmp_path: Path,
                                                                     fake_embedder: FakeEmbedder,
                                                                     monkeypatch) -> None:
    make_pdf(kb_dir / "modules" / "hangs.pdf", [["Text."]])
    calls = []
    real = loader.load_safely

    def slow_parse(path, kb, timeout=None):
        calls.append(path.name)
        return real(path, kb, timeout=0.5) if path.suffix == ".pdf" else real(path, kb)

    import bot.knowledge.documents as documents
    import bot.knowledge.index as index_module

    monkeypatch.setattr(documents, "_pdf_blocks", lambda path: __import__("time").sleep(30))
    monkeypatch.setattr(index_module, "load_safely", slow_parse)
    first = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert "longer than" in first.failed["modules/hangs.pdf"]
    calls.clear()
    second = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert not second.touched and second.version == first.version  # a known bad file is not news
    assert calls == []  # and its bytes were not handed to the parser again
    assert second.failed == first.failed
    (kb_dir / "modules" / "hangs.pdf").unlink()
    third = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert third.touched and third.failed == {}


# ---------------------------------------------------------------- issue 17: any file, any content


def _address_space_cap(megabytes: int):
    """A ``preexec_fn`` capping a subprocess's memory: code that regresses fails fast, not the machine."""
    def cap() -> None:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def _reason(result: Document | LoadFailure) -> str:
    # Never let an assertion print a Document: a regression's metadata may be an alias bomb.
    return result.reason if isinstance(result, LoadFailure) else "parsed"


def _good_documents(kb: Path) -> set[str]:
    """One good document of each format, beside the hostile ones."""
    write(kb / "modules" / "leave.md", LEAVE_MODULE)
    pdf = make_pdf(kb / "modules" / "rti-extract.pdf",
                   [["The Right to Information Act, 2005", "7. Disposal of request. - Reply within thirty days."]])
    write(pdf.with_name(pdf.name + ".meta.yml"), "title: RTI extract\nroles: [public-information-officer]\n")
    write(kb / "modules" / "guide.html", "<html><head><title>Grievance guide</title></head><body>"
                                         "<p>Every grievance is registered on CPGRAMS.</p></body></html>\n")
    make_docx(kb / "modules" / "ltc.docx", [(1, "Leave travel concession"), (0, "LTC is allowed once in four years.")])
    return {"modules/leave.md", "modules/rti-extract.pdf", "modules/guide.html", "modules/ltc.docx",
            "modules/regex-trap.md"}


def test_every_hostile_file_is_skipped_with_a_reason_and_the_rest_indexes_and_serves(tmp_path: Path) -> None:
    kb, index, outside = tmp_path / "kb", tmp_path / "index", tmp_path / "outside"
    outside.mkdir()
    expected = make_hostile_text_folder(kb, outside)
    good = _good_documents(kb)
    # hostile non-documents too, for `kb validate`
    write(kb / "quizzes" / "deep.quiz.yml", "module: deep\n" + deep_yaml("items"))
    write(kb / "roles" / "bomb.yml", alias_bomb("name") + "id: bomb\n")
    write(outside / "glossary.yml", "terms:\n  RTI: right to information\n")
    (kb / "glossary.yml").symlink_to(outside / "glossary.yml")
    env = _env(TUTOR_MAX_UNZIPPED_MB="16")
    ingest = subprocess.run([sys.executable, "-m", "bot.kb.cli", "ingest", "--kb", str(kb), "--index",
                             str(index), "--json"], env=env, capture_output=True, text=True, timeout=300,
                            preexec_fn=_address_space_cap(3072))
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    report = json.loads(ingest.stdout)
    for source, word in expected.items():
        if word is not None:
            assert word in report["failed"].get(source, ""), (source, report["failed"].get(source))
    assert good <= set(report["added"]) <= good | {"modules/laughs.html"}
    status = subprocess.run([sys.executable, "-m", "bot.kb.cli", "status", "--kb", str(kb), "--index",
                             str(index)], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0
    for source in report["failed"]:
        assert f"  {source}: " in status.stdout
    # what was indexed is bounded: no megabyte chunk, heading or metadata from a hostile file
    chunks = read_chunks(current_version_dir(index))
    assert {c.source for c in chunks} <= good | {"modules/laughs.html"}
    assert max(len(c.text) for c in chunks) < 20_000
    assert max(len(" > ".join(c.heading_path)) for c in chunks) <= 500
    assert max(len(json.dumps(c.meta)) for c in chunks) < 1000
    assert next(c for c in chunks if c.source == "modules/rti-extract.pdf").meta["roles"] == ["public-information-officer"]
    hits = Retriever(index).search("casual leave in a calendar year", k=3).hits
    assert hits[0].chunk.source == "modules/leave.md"
    validate = subprocess.run([sys.executable, "-m", "bot.kb.cli", "validate", "--kb", str(kb)], env=env,
                              capture_output=True, text=True, timeout=300, preexec_fn=_address_space_cap(3072))
    assert validate.returncode == 1, validate.stderr[-2000:]  # errors found, reported, not a crash
    for name in ("modules/alias-bomb.md", "quizzes/deep.quiz.yml", "roles/bomb.yml", "glossary.yml"):
        assert name in validate.stdout, name


def test_front_matter_is_read_within_limits_and_ordinary_front_matter_still_works() -> None:
    refused = {
        alias_bomb("title"): "alias", deep_yaml("tags"): "nested", "tags: &a [*a]\n": "refers to itself",
        "module: " + "1" * 5000 + "\n": "cannot be read", "logo: !!binary aGVsbG8=\n": "not allowed",
        "summary: " + "x" * 100_000 + "\n": "too large",
    }
    for front, word in refused.items():
        with pytest.raises(DocumentError, match=word):
            parse_front_matter(f"---\n{front}---\n# Title\n\nText.\n")
    meta, body, _ = parse_front_matter("---\ntitle: Leave\nroles: &r [section-officer]\ncompetencies: *r\n"
                                       "effective: 2025-04-01\n---\n# Leave\n")
    assert meta == {"title": "Leave", "roles": ["section-officer"], "competencies": ["section-officer"],
                    "effective": "2025-04-01"}
    assert body == "# Leave\n"


def test_every_text_format_is_parsed_in_the_child_with_its_limits(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def parser_bug(*args: object) -> None:
        raise RecursionError("a parser bug on a hostile file")

    # The child is forked, so it inherits these patches: real children that fail or hang.
    monkeypatch.setattr(documents, "_markdown_blocks", parser_bug)
    monkeypatch.setattr(documents, "_plain_blocks", parser_bug)
    monkeypatch.setattr(documents, "_html_blocks", lambda text: time.sleep(5))
    for name in ("a.md", "b.txt"):
        result = load_safely(write(tmp_path / name, "# A\n\nText.\n"), tmp_path)
        assert "could not parse (RecursionError" in _reason(result), name
    started = time.monotonic()
    result = load_safely(write(tmp_path / "c.html", "<p>Text.</p>\n"), tmp_path, timeout=0.5)
    assert "longer than" in _reason(result)
    assert time.monotonic() - started < 4


def test_runs_without_spaces_and_overlong_headings_are_bounded(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# " + "very long heading " * 100 + "\n\n"
          + "![logo](data:image/png;base64," + "A" * 50_000 + ") Earned leave is credited in advance.\n\n"
          + "## Short heading\n\nText under it.\n")
    doc = documents.load_document(tmp_path / "a.md", tmp_path)
    assert max(len(word) for block in doc.blocks for word in block.text.split()) <= 1000
    assert "Earned leave is credited in advance." in " ".join(b.text for b in doc.blocks)
    assert [b.text for b in doc.blocks if b.level] == ["Short heading"]  # the long one is a paragraph
    assert all(len(" ".join(c.heading_path)) <= 500 for c in chunk_document(doc))


def test_a_heading_line_full_of_spaces_parses_in_linear_time(tmp_path: Path) -> None:
    write(tmp_path / "trap.md", "# a" + " " * 1500 + "b\n\n## Title ##\n\nText.\n")
    started = time.monotonic()
    doc = documents.load_document(tmp_path / "trap.md", tmp_path)
    assert time.monotonic() - started < 1  # the old pattern took seconds here, hours at 20 000 spaces
    assert [b.text for b in doc.blocks if b.level][-1] == "Title"


def test_a_hostile_sidecar_is_refused(tmp_path: Path) -> None:
    secret = write(tmp_path.parent / f"{tmp_path.name}-outside.yml", "title: Not from this folder\n")
    linked = make_pdf(tmp_path / "linked.pdf", [["Section 1. Intro. - Some text."]])
    linked.with_name("linked.pdf.meta.yml").symlink_to(secret)
    assert "link" in _reason(load_safely(linked, tmp_path))
    bomb = make_pdf(tmp_path / "bomb.pdf", [["Section 1. Intro. - Some text."]])
    write(bomb.with_name("bomb.pdf.meta.yml"), alias_bomb("tags"))
    assert "alias" in _reason(load_safely(bomb, tmp_path))


def test_a_sidecar_linked_to_a_device_is_never_read_by_the_indexer(kb_dir: Path, tmp_path: Path,
                                                                   fake_embedder: FakeEmbedder) -> None:
    pdf = make_pdf(kb_dir / "modules" / "rti.pdf", [["Section 1. Intro. - Some text."]])
    pdf.with_name("rti.pdf.meta.yml").symlink_to("/dev/zero")

    def failures() -> dict[str, str]:
        return update_index(kb_dir, tmp_path / "idx", [fake_embedder]).failed

    failed = run_capped(failures, memory_mb=1024, timeout=120)
    assert "link" in failed["modules/rti.pdf"]
    assert sorted(read_meta(current_version_dir(tmp_path / "idx"))["documents"]) == ["modules/leave.md",
                                                                                    "modules/rti.md"]


def test_a_zip_bomb_docx_is_refused_before_it_is_unzipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_UNZIPPED_BYTES", 8 * 1024 * 1024, raising=False)
    bomb = make_zip_bomb_docx(tmp_path / "bomb.docx", inflated_mb=20)
    assert bomb.stat().st_size < 1024 * 1024
    assert "zip bomb" in _reason(load_safely(bomb, tmp_path))


def test_a_hostile_glossary_is_refused_and_the_last_good_one_keeps_serving(tmp_path: Path) -> None:
    path = write(tmp_path / "glossary.yml", "terms:\n  CL: casual leave\n")
    assert cached_glossary(path).terms == {"CL": "casual leave"}
    outside = write(tmp_path.parent / f"{tmp_path.name}-glossary.yml", "terms:\n  XX: not from this folder\n")
    hostile = {"nested": deep_yaml("terms"), "alias": alias_bomb("x") + "terms: {RTI: *l9}\n",
               "cannot be read": "terms: {RTI: " + "9" * 5000 + "}\n", "link": None}
    for stamp, (word, text) in enumerate(hostile.items(), start=1):
        path.unlink()
        if text is None:
            path.symlink_to(outside)
        else:
            path.write_text(text, encoding="utf-8")
        os.utime(path, (stamp * 1000, stamp * 1000), follow_symlinks=False)  # a change, whatever the clock
        with pytest.raises(GlossaryError, match=word):
            Glossary.load(path)
        assert cached_glossary(path).terms == {"CL": "casual leave"}, word
