"""Every question file in the repository: gold spans occur in their documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.evaluation.question_files import problems
from bot.evaluation.sets import NEW_DOCS_DIR, NEW_DOCS_QUESTIONS, OFFICER_DIR, SHARED
from bot.training.pairs import DATA_DIR

FILES = [(p, SHARED / "corpus") for p in sorted(OFFICER_DIR.glob("*.jsonl"))]
FILES += [(p, SHARED / "corpus") for p in sorted(DATA_DIR.glob("*.jsonl")) if not p.name.endswith("_kb.jsonl")]
FILES += [(DATA_DIR / "written_questions_kb.jsonl", PROJECT_ROOT / "knowledge_base"),
          (NEW_DOCS_QUESTIONS, NEW_DOCS_DIR)]


@pytest.mark.parametrize(("path", "docs"), FILES, ids=[p.name for p, _ in FILES])
def test_gold_spans_occur_in_their_documents(path: Path, docs: Path):
    assert path.exists()
    assert problems(path, docs) == []


def test_a_wrong_span_is_reported(tmp_path):
    (tmp_path / "doc.md").write_text("Casual leave is eight days a year.", encoding="utf-8")
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "question": "q", "source": "doc.md", "gold": ["eleven days a year"]}\n'
                   '{"id": "a", "question": "q", "source": "doc.md", "gold": ["casual leave is eight"]}\n',
                   encoding="utf-8")
    assert problems(bad, tmp_path) == ["a: span not found: eleven days a year", "a: duplicate id"]


def test_evaluation_and_training_questions_do_not_overlap():
    import json

    def questions(paths):
        return {json.loads(line)["question"].strip().lower() for p in paths
                for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}

    evaluation = questions(OFFICER_DIR.glob("*.jsonl")) | questions([NEW_DOCS_QUESTIONS])
    training = questions(DATA_DIR.glob("*.jsonl"))
    assert not evaluation & training
