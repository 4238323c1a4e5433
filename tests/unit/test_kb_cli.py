"""The trainer's ``kb`` commands: ingest summary, status, validate, diff, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.kb.cli import main
from tests.conftest import write


@pytest.fixture
def kb_args(kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("TUTOR_EMBEDDERS", "hash")
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    return ["--kb", str(kb_dir), "--index", str(tmp_path / "index")]


def test_ingest_prints_a_summary_and_a_progress_bar(kb_args, capsys) -> None:
    assert main(["ingest", *kb_args]) == 0
    out, err = capsys.readouterr()
    assert "index v000001: 4 chunks; 2 added, 0 changed, 0 renamed, 0 removed, 0 unchanged, 0 failed" in out
    assert "chunks embedded in" in out
    assert "reading documents" in err and "[##############################] 2/2" in err
    assert "embedding (hash)" in err


def test_status_lists_documents_model_failures_and_last_update(kb_args, kb_dir, capsys) -> None:
    write(kb_dir / "modules" / "broken.md", "---\ntitle: [x\n---\n# B\n\nText.\n")
    main(["ingest", *kb_args])
    capsys.readouterr()
    assert main(["status", *kb_args]) == 0
    out = capsys.readouterr().out
    assert "index version v000001" in out and "model(s): hash" in out
    assert "2 documents, 4 chunks" in out
    assert "modules/rti.md" in out and "RTI for Public Information Officers" in out
    assert "last update:" in out and "2 added" in out and "1 failed" in out
    assert "1 file(s) not indexed:" in out and "modules/broken.md: line 2: bad front matter" in out
    assert main(["status", *kb_args, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["documents"] == 2 and status["embedders"] == ["hash"] and "modules/broken.md" in status["failures"]


def test_status_without_an_index_says_what_to_do(kb_args, capsys) -> None:
    assert main(["status", *kb_args]) == 1
    assert "run `kb ingest`" in capsys.readouterr().out


def test_validate_reports_front_matter_quiz_banks_and_duplicate_titles(kb_args, kb_dir, capsys) -> None:
    assert main(["validate", *kb_args]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    write(kb_dir / "modules" / "dup.md", "---\ntitle: Leave basics\neffective: someday\nlevel: 3\n---\n# X\n\nText.\n")
    write(kb_dir / "modules" / "broken.md", "---\ntitle: ok\nroles: [x\n---\n# B\n\nText.\n")
    write(kb_dir / "quizzes" / "leave.quiz.yml", """
        module: leave-basics
        title: Leave quiz
        items:
          - id: q1
            type: single
            question: "How many days of casual leave?"
            options: ["6", "8"]
            answer: "9"
        """)
    assert main(["validate", *kb_args]) == 1
    out = capsys.readouterr().out
    assert "ERROR: modules/broken.md:3: bad front matter" in out
    assert "ERROR: modules/dup.md: effective must be a date like 2025-04-01, got 'someday'" in out
    assert "WARNING: modules/dup.md: unknown front-matter key 'level'" in out
    assert "duplicate title 'Leave basics'" in out
    assert "quizzes/leave.quiz.yml" in out and "q1" in out


def test_diff_shows_what_the_last_update_changed_and_rollback_undoes_it(kb_args, kb_dir, capsys) -> None:
    main(["ingest", *kb_args])
    (kb_dir / "modules" / "rti.md").unlink()
    path = kb_dir / "modules" / "leave.md"
    path.write_text(path.read_text().replace("eight days", "eight (8) days"))
    write(kb_dir / "modules" / "new.md", "# New module\n\n## 1. Intro\n\nA new text.\n")
    main(["ingest", *kb_args])
    capsys.readouterr()
    assert main(["diff", *kb_args]) == 0
    out = capsys.readouterr().out
    assert "last update -> v000002" in out
    assert "  added: modules/new.md" in out and "  changed: modules/leave.md" in out
    assert "  removed: modules/rti.md" in out
    assert main(["rollback", *kb_args]) == 0
    assert "now serving v000001" in capsys.readouterr().out
    main(["status", *kb_args])
    assert "modules/rti.md" in capsys.readouterr().out


def test_search_says_whether_the_material_answers_and_lists_the_hits(kb_args, tmp_path, monkeypatch,
                                                                     capsys) -> None:
    from bot.knowledge.gate import GateModel

    main(["ingest", *kb_args])
    capsys.readouterr()
    # A gate model for the hash embedder that finds every question close but never answerable.
    always_near = GateModel(("bm25_top",), (0.0,), (1.0,), (0.0,), 0.0, 0.6, ("hash",), 0.4)
    (tmp_path / "gate.json").write_text(json.dumps({"model": always_near.to_dict()}))
    monkeypatch.setenv("TUTOR_GATE_MODEL", str(tmp_path / "gate.json"))
    assert main(["search", *kb_args, "--no-update", "RTI", "fee"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RTI fee  [NOT COVERED, closest section offered; top hash=")
    assert "(modules/rti.md)" in out
    monkeypatch.setenv("TUTOR_GATE", "hash:0.0")  # thresholds only: everything answerable
    main(["search", *kb_args, "--no-update", "RTI", "fee"])
    assert "[ANSWERABLE;" in capsys.readouterr().out
