"""The versioned, incremental index: what changes is re-embedded, what is gone is gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.knowledge.index import current_version_dir, read_chunks, read_meta, rollback, update_index
from bot.knowledge.loader import MAX_FILE_BYTES
from tests.conftest import LEAVE_MODULE, FakeEmbedder, write


def sources(index_dir: Path) -> set[str]:
    return {c.source for c in read_chunks(current_version_dir(index_dir))}


def test_first_build_indexes_every_document(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert sorted(report.added) == ["modules/leave.md", "modules/rti.md"]
    assert report.chunks == 4 and report.embedded == 4
    assert sources(tmp_path / "idx") == {"modules/leave.md", "modules/rti.md"}


def test_nothing_changed_means_no_new_version_and_no_embedding(kb_dir, tmp_path, fake_embedder) -> None:
    first = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    fake_embedder.embedded = 0
    second = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert second.version == first.version and not second.touched
    assert fake_embedder.embedded == 0


def test_editing_one_file_re_embeds_only_its_changed_chunks(kb_dir, tmp_path, fake_embedder) -> None:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    fake_embedder.embedded = 0
    path = kb_dir / "modules" / "leave.md"
    path.write_text(path.read_text().replace("eight days", "eight (8) days"))
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert report.changed == ["modules/leave.md"]
    assert fake_embedder.embedded == 1  # one of the four chunks changed
    texts = " ".join(c.text for c in read_chunks(current_version_dir(tmp_path / "idx")))
    assert "eight (8) days" in texts


def test_rename_reuses_vectors_and_delete_removes_chunks(kb_dir, tmp_path, fake_embedder) -> None:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    fake_embedder.embedded = 0
    os.rename(kb_dir / "modules" / "leave.md", kb_dir / "modules" / "leave-rules.md")
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert report.renamed == [("modules/leave.md", "modules/leave-rules.md")]
    assert fake_embedder.embedded == 0
    (kb_dir / "modules" / "rti.md").unlink()
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert report.removed == ["modules/rti.md"]
    assert sources(tmp_path / "idx") == {"modules/leave-rules.md"}


def test_changing_the_embedder_rebuilds_everything(kb_dir, tmp_path, fake_embedder) -> None:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    other = FakeEmbedder(name="other", dim=32)
    report = update_index(kb_dir, tmp_path / "idx", [other])
    assert other.embedded == 4 and report.chunks == 4
    assert read_meta(current_version_dir(tmp_path / "idx"))["embedders"] == ["other"]


def test_hostile_files_are_skipped_with_reasons_and_good_files_still_index(kb_dir, tmp_path, fake_embedder) -> None:
    modules = kb_dir / "modules"
    (modules / "empty.md").write_text("")
    (modules / "random.pdf").write_bytes(os.urandom(4096))
    (modules / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    write(modules / "bad-front-matter.md", "---\ntitle: [unclosed\n---\n# X\n\nText.\n")
    outside = write(tmp_path / "secret.md", "# Secret\n\nNot for the bot.\n")
    (modules / "link.md").symlink_to(outside)
    with open(modules / "huge.txt", "wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_FILE_BYTES + 1)
    (modules / ".~lock.rti.md#").write_text("editor lock file")
    (modules / "notes.md.swp").write_text("vim swap")
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    failed = report.failed
    assert "empty" in failed["modules/empty.md"]
    assert "PDF" in failed["modules/random.pdf"] or "parse" in failed["modules/random.pdf"]
    assert "modules/truncated.pdf" in failed
    assert "front matter" in failed["modules/bad-front-matter.md"] and "line" in failed["modules/bad-front-matter.md"]
    assert "outside" in failed["modules/link.md"]
    assert "too large" in failed["modules/huge.txt"]
    assert not any("lock" in s or "swp" in s for s in failed)  # temp files are ignored, not failures
    assert sources(tmp_path / "idx") == {"modules/leave.md", "modules/rti.md"}
    assert read_meta(current_version_dir(tmp_path / "idx"))["failures"] == failed


def test_a_document_that_breaks_keeps_serving_its_last_good_version(kb_dir, tmp_path, fake_embedder) -> None:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    write(kb_dir / "modules" / "leave.md", "---\ntitle: [broken\n---\n" + LEAVE_MODULE)
    report = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert "previous version" in report.failed["modules/leave.md"]
    assert "modules/leave.md" in sources(tmp_path / "idx")


def test_rollback_serves_the_previous_version(kb_dir, tmp_path, fake_embedder) -> None:
    first = update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    (kb_dir / "modules" / "rti.md").unlink()
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    assert rollback(tmp_path / "idx") == first.version
    assert "modules/rti.md" in sources(tmp_path / "idx")


def test_missing_folder_is_a_clear_error(tmp_path, fake_embedder) -> None:
    with pytest.raises(FileNotFoundError, match="knowledge folder not found"):
        update_index(tmp_path / "nope", tmp_path / "idx", [fake_embedder])


def test_chunks_read_back_equal_and_share_repeated_strings(kb_dir: Path, tmp_path: Path,
                                                           fake_embedder: FakeEmbedder) -> None:
    import json

    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    live = current_version_dir(tmp_path / "idx")
    stored = [json.loads(line) for line in (live / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]

    chunks = read_chunks(live)

    assert [c.to_dict() for c in chunks] == stored
    # One document's chunks hold one copy of its source and title, not one per chunk.
    same_doc = [c for c in chunks if c.source == chunks[0].source]
    assert len(same_doc) > 1
    assert all(c.source is same_doc[0].source and c.title is same_doc[0].title for c in same_doc)
