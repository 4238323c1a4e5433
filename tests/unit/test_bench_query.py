"""The query benchmark's synthetic index is a valid, searchable index version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench import memory, query
from bot.knowledge.embedders import make_embedder
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


def test_status_figures_of_this_process_are_read_in_mib() -> None:
    figures = memory.read_status_mib()

    assert {"VmRSS", "VmHWM"} <= figures.keys()
    assert 10 < figures["VmRSS"] <= figures["VmHWM"] < 1_000_000


def test_a_fresh_server_process_reports_its_memory_over_a_tiny_index(kb_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The hash embedder loads no model; the reranker is off in unit tests (conftest), so
    # the child loads only the index: its figures are small but real.
    update_index(kb_dir, tmp_path / "idx", [make_embedder("hash")])
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))

    figures = memory.measure(tmp_path / "idx", ["How many days of casual leave?"], timeout=120)

    assert 10 < figures["VmRSS"] <= figures["VmHWM"]
    assert figures["RssAnon"] > 0 and figures["RssFile"] > 0


def test_memory_lines_say_what_the_index_adds_against_the_target() -> None:
    result = {"embedders": ["minilm"], "sizes": [], "memory": {
        "target_mib": 1536,
        "baseline": {"chunks": 100, "VmRSS": 660.0, "VmHWM": 700.0, "RssAnon": 500.0, "RssFile": 160.0},
        "sizes": [{"chunks": 100000, "VmRSS": 1210.0, "VmHWM": 1260.0, "RssAnon": 1050.0, "RssFile": 160.0},
                  {"chunks": 400000, "VmRSS": 2900.0, "VmHWM": 3000.0, "RssAnon": 2700.0, "RssFile": 200.0}]}}

    lines = query.memory_lines(result)
    text = query.markdown(result)

    assert "index of 100000 chunks adds 550 MiB; total 1210 MiB (target ≤ 1536 MiB: met)" in lines[1]
    assert "MISSED" in lines[2]
    assert "| 100,000 | 1210 | 550 | 1260 | 1050 / 160 | met |" in text
    assert "| 400,000 | 2900 | 2240 |" in text and "**missed**" in text
    assert "index of 100000 chunks adds 550 MiB" in query.table(result)
