"""The ingestion benchmark's one-edit measurement does what its table claims."""

from __future__ import annotations

from pathlib import Path

from bot.bench.ingest import bench_one_edit, table
from tests.conftest import write


def test_one_edit_re_embeds_only_the_edited_document(tmp_path: Path) -> None:
    sentence = "The officer shall record each receipt in the register and forward it the same day. "
    for n in range(3):
        write(tmp_path / "corpus" / f"text{n}.md", "\n\n".join(f"{sentence * 2} Item {n}-{i}." for i in range(20)))
    row = bench_one_edit(tmp_path / "corpus", tmp_path / "work", 30, real_rate=10.0)
    assert row["documents"] == 30 and len(row["changed"]) == 1
    assert 1 <= row["edit_embedded"] <= 3  # the edited chunk(s), not the folder
    assert row["edit_with_model_s"] >= row["edit_s"] + row["edit_embedded"] / 10.0 - 0.01
    full = {"embedder": "hash", "documents": 3, "chunks": 60, "failed": 0, "build_s": 1.0,
            "build_chunks_per_s": 60.0, "raw_sample": 60, "raw_chunks_per_s": 70.0, "overhead_pct": 16.7}
    text = table({"full_build": full, "one_edit": [row]})
    assert "overhead of parsing, chunking, indexing: 16.7 %" in text and "       30 " in text
