"""The query benchmark's synthetic index is a valid, searchable index version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench import query
from bot.knowledge.index import current_version_dir, read_meta, update_index, validate_version
from tests.conftest import FakeEmbedder, write


def test_synthetic_index_is_written_and_validates(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The vector pool comes from an eval index (built here from the test knowledge folder),
    # the sentences from the benchmark corpus folder.
    update_index(kb_dir, tmp_path / "eval" / "kb", [fake_embedder])
    write(tmp_path / "corpus" / "a.md",
          "The officer shall record each receipt in the register the same day.\n\n"
          "An appeal lies to the first appellate authority within thirty days of the decision.")
    monkeypatch.setattr(query, "EVAL_STATE", tmp_path / "eval")
    monkeypatch.setattr(query, "CORPUS", tmp_path / "corpus")
    monkeypatch.setattr(query, "STATE", tmp_path / "bench")

    folder = query.build_index(50, [fake_embedder.name])

    live = current_version_dir(folder)
    assert live is not None
    validate_version(live)
    assert read_meta(live)["chunk_count"] == 50 and read_meta(live)["embedders"] == [fake_embedder.name]
