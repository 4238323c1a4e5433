"""Hostile files are skipped with a reason, listed by ``kb status``; good files still index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.knowledge import loader
from bot.knowledge.index import current_version_dir, read_chunks, update_index
from bot.knowledge.search import Retriever
from tests.conftest import LEAVE_MODULE, FakeEmbedder, write
from tests.unit.kb_fixtures import make_hostile_folder, make_pdf

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
    ingest = subprocess.run([sys.executable, "-m", "bot.knowledge.cli", "ingest", "--kb", str(kb),
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
    status = subprocess.run([sys.executable, "-m", "bot.knowledge.cli", "status", "--kb", str(kb),
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
