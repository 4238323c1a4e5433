"""Quiz bank loading and validation."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.quizzes import QuizBank, load_banks
from tests.unit.kb_fixtures import alias_bomb, deep_yaml, run_capped

DATA = Path(__file__).resolve().parents[1] / "data" / "quizzes"


def test_fixture_banks_load_cleanly() -> None:
    items, problems = load_banks(DATA)
    assert problems == []
    assert {i.id for i in items} == {"rti-001", "rti-002", "rti-003", "rti-004", "eth-001", "eth-002"}
    rti = next(i for i in items if i.id == "rti-001")
    assert rti.answer == "30 days" and rti.options[1] == "30 days"
    assert rti.source_document == "modules/rti-for-pios.md" and rti.source_anchor == "3. Time limits"
    assert rti.line == 5 and rti.file.endswith("rti.quiz.yml")
    assert next(i for i in items if i.id == "rti-003").answer == ("Application fee", "Cost of copies")
    assert next(i for i in items if i.id == "rti-002").options == ("True", "False")


def test_malformed_file_is_reported_with_line_and_others_still_load(tmp_path: Path) -> None:
    for path in DATA.glob("*.quiz.yml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "broken.quiz.yml").write_text(
        "module: broken\nitems:\n  - id: b-1\n    question: [unclosed\n    type: single\n"
    )
    items, problems = load_banks(tmp_path, base=tmp_path)
    assert len(items) == 6
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == "broken.quiz.yml"
    assert problem.line in (4, 5)  # where the parser noticed the unclosed flow sequence
    assert "malformed YAML" in problem.message
    assert str(problem).startswith(f"broken.quiz.yml:{problem.line}: error")


def test_bad_items_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "mixed.quiz.yml").write_text(
        """module: mixed
items:
  - id: ok-1
    type: single
    question: "Good one?"
    options: ["yes", "no"]
    answer: "yes"
  - id: bad-answer
    type: single
    question: "Answer not an option"
    options: ["a1", "a2"]
    answer: "a3"
  - id: bad-type
    type: essay
    question: "?"
    answer: "x"
  - type: short
    question: "No id"
    answer: ["x"]
  - id: ok-1
    type: true_false
    question: "Duplicate id"
    answer: false
  - id: bad-tf
    type: true_false
    question: "tf"
    answer: "maybe"
    colour: blue
"""
    )
    items, problems = load_banks(tmp_path, base=tmp_path)
    assert [i.id for i in items] == ["ok-1"]
    errors = {(p.item_id, p.line) for p in problems if p.severity == "error"}
    assert ("bad-answer", 12) in errors  # the line of the offending 'answer' value
    assert ("bad-type", 14) in errors
    assert (None, 17) in errors  # item without id: the item's first line
    assert ("ok-1", 20) in errors  # duplicate id
    assert ("bad-tf", 27) in errors
    duplicate = next(p for p in problems if p.item_id == "ok-1")
    assert "duplicate" in duplicate.message and "line 3" in duplicate.message
    warning = next(p for p in problems if p.severity == "warning")
    assert warning.line == 28 and "colour" in warning.message


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    shutil.copy(DATA / "rti.quiz.yml", tmp_path / "a.quiz.yml")
    shutil.copy(DATA / "rti.quiz.yml", tmp_path / "b.quiz.yml")
    items, problems = load_banks(tmp_path, base=tmp_path)
    assert len(items) == 4
    assert len(problems) == 4
    assert all(p.file == "b.quiz.yml" and "a.quiz.yml:" in p.message for p in problems)


def test_non_mapping_and_empty_files_do_not_crash(tmp_path: Path) -> None:
    (tmp_path / "list.quiz.yml").write_text("- just\n- a list\n")
    (tmp_path / "empty.quiz.yml").write_text("")
    (tmp_path / "noitems.quiz.yml").write_text("module: x\nitems: 3\n")
    items, problems = load_banks(tmp_path, base=tmp_path)
    assert items == []
    assert {p.file for p in problems} == {"list.quiz.yml", "empty.quiz.yml", "noitems.quiz.yml"}
    assert next(p for p in problems if p.file == "noitems.quiz.yml").line == 2


def test_missing_folder_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    items, problems = load_banks(tmp_path / "nope")
    assert items == [] and "not found" in problems[0].message


def test_scope_filters() -> None:
    bank, _ = QuizBank.load(DATA)
    assert {i.id for i in bank.for_topic("RTI")} == {"rti-001", "rti-002", "rti-003", "rti-004"}
    assert {i.id for i in bank.for_topic("rti-for-pios")} == {"rti-001", "rti-002", "rti-003", "rti-004"}
    assert {i.id for i in bank.for_topic("ethics")} == {"eth-001", "eth-002"}
    assert {i.id for i in bank.for_topic("appeals")} == {"rti-004"}
    assert {i.id for i in bank.for_topic("political party")} == {"eth-002"}  # falls back to question text
    assert bank.for_topic("astronomy") == []
    # A topic in Hindi or Hinglish finds its module through the English term lists.
    assert {i.id for i in bank.for_topic("आरटीआई")} == {"rti-001", "rti-002", "rti-003", "rti-004"}
    docs = bank.for_documents(["./modules/rti-for-pios.md"], anchor="5. Appeals")
    assert docs[0].id == "rti-004" and len(docs) == 4
    assert {i.id for i in bank.for_documents(["conduct-rules.md"])} == {"eth-001", "eth-002"}


def test_links_and_hostile_yaml_are_refused_per_file_and_the_other_banks_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "quizzes"
    folder.mkdir()
    for path in DATA.glob("*.quiz.yml"):
        shutil.copy(path, folder / path.name)
    outside = tmp_path / "outside.quiz.yml"
    outside.write_text("module: outside\nitems:\n  - {id: out-1, type: short, question: Q?, answer: [a]}\n")
    (folder / "link.quiz.yml").symlink_to(outside)
    (folder / "deep.quiz.yml").write_text("module: deep\n" + deep_yaml("items"))
    (folder / "bomb.quiz.yml").write_text(alias_bomb("x") + "module: bomb\nitems:\n"
                                          "  - {id: b-1, type: short, question: *l9, answer: *l9}\n")
    (folder / "loop.quiz.yml").write_text("module: loop\nitems: &a [*a]\n")
    (folder / "big.quiz.yml").write_text("module: big\nitems:\n  - {id: " + "1" * 5000 + ", type: short}\n")
    # capped: a regression that expands the bomb fails this test instead of exhausting the machine
    items, problems = run_capped(load_banks, folder, tmp_path, memory_mb=1024, timeout=60)
    assert {i.id for i in items} == {"rti-001", "rti-002", "rti-003", "rti-004", "eth-001", "eth-002"}
    errors = {p.file: p.message for p in problems if p.severity == "error"}
    expected = {"link": "link", "deep": "nested", "bomb": "alias", "loop": "refers to itself",
                "big": "cannot be read"}
    assert set(errors) == {f"quizzes/{name}.quiz.yml" for name in expected}
    for name, word in expected.items():
        assert word in errors[f"quizzes/{name}.quiz.yml"], (name, errors[f"quizzes/{name}.quiz.yml"])


def test_a_dangling_bank_link_does_not_break_the_reload_check(tmp_path: Path) -> None:
    from bot.wiring import bank_signature

    shutil.copy(DATA / "rti.quiz.yml", tmp_path / "rti.quiz.yml")
    (tmp_path / "gone.quiz.yml").symlink_to(tmp_path / "missing.quiz.yml")
    signature = bank_signature(tmp_path)
    assert [entry[0] for entry in signature] == ["gone.quiz.yml", "rti.quiz.yml"]
