"""Generated cloze questions: facts, distractors, stable ids, review status, serving rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from bot.knowledge.chunking import Chunk
from bot.quizzes.banks import QuizBank, load_banks
from bot.quizzes.cloze import BLANK, Fact, distractors, facts_in, sentence_id
from bot.quizzes.generate import main
from bot.quizzes.generated_banks import generate, review
from bot.quizzes.passage_quiz import (
    PASSAGE_STATUS,
    PassageQuizzes,
    draft_items,
    items_on_passage,
    passage_items_in_bank,
    passage_key,
)

APPEALS = """---
title: "Appeals under the Information Act"
module: appeals
competencies: ["RTI Act"]
language: en
---

# Appeals under the Information Act

## 1. First appeal

- **First Appellate Authority** (Section 19(1)): an officer senior in rank to the PIO who hears first appeals.
- **Public Information Officer** (Section 5(1)): the officer who decides requests in every unit.

A first appeal lies to the First Appellate Authority within 30 days of the decision of the officer.
The appellate officer must decide the appeal within 45 days of receiving it, with reasons recorded.

## 2. Second appeal and penalties

A second appeal lies to the Central Information Commission within 90 days of the first decision.
The Commission may impose a penalty of Rs 250 for each day of delay on the defaulting officer.
Information about the life or liberty of a person must be supplied within 48 hours of the request.
"""

LEAVE = """---
title: "Leave basics"
module: leave
competencies: ["Leave Rules"]
language: en
---

# Leave basics

## 1. Earned leave

Earned leave is credited in advance at the rate of 15 days every half year to the officer.
Earned leave can be accumulated up to a ceiling of 300 days during the service of the officer.
A medical certificate is needed when commuted leave exceeds 60 days at a single stretch.
Leave encashment on retirement is limited to the cash equivalent of 300 days of earned leave.
"""

BANKED = """---
title: "Office procedure"
module: office
competencies: ["Office Procedure"]
language: en
---

# Office procedure

A file must be moved within 7 days of its receipt by the section under the current manual of the office.
"""

OFFICE_BANK = """module: office
title: "Office procedure quiz"
items:
  - id: off-1
    type: true_false
    question: "Files move within 7 days."
    answer: true
"""


def make_kb(root: Path) -> Path:
    """A small knowledge folder: two modules without a bank, one with a hand-written bank."""
    kb = root / "kb"
    (kb / "modules").mkdir(parents=True)
    (kb / "quizzes").mkdir()
    (kb / "modules" / "appeals.md").write_text(APPEALS, encoding="utf-8")
    (kb / "modules" / "leave.md").write_text(LEAVE, encoding="utf-8")
    (kb / "modules" / "office.md").write_text(BANKED, encoding="utf-8")
    (kb / "quizzes" / "office.quiz.yml").write_text(OFFICE_BANK, encoding="utf-8")
    return kb


def generated_items(kb: Path, module: str) -> list[dict]:
    path = kb / "quizzes" / "generated" / f"{module}.quiz.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["items"]


def by_answer(items: list[dict], answer: str) -> dict:
    return next(i for i in items if i["answer"] == answer)


def test_facts_are_extracted_with_units_and_values() -> None:
    facts = facts_in("A second appeal lies to the Central Information Commission within 90 days, fee Rs 10 and 5%.")
    kinds = {(f.kind, f.text, f.value) for f in facts}
    assert ("days", "90 days", 90.0) in kinds
    assert ("rs", "Rs 10", 10.0) in kinds
    assert ("percent", "5%", 5.0) in kinds
    assert ("authority", "Central Information Commission", None) in kinds
    # Numbers come before authorities: a time limit is the preferred blank.
    assert facts[0].kind in ("days", "rs", "percent")
    assert facts_in("Rules framed in 1964 apply.")[0] == Fact("year", "1964", 1964.0, "1964")
    assert facts_in("Within thirty days of receipt, reply.")[0].value == 30.0


def test_distractors_are_plausible_and_distinct() -> None:
    answer = Fact("days", "30 days", 30.0, "30", "a.md")
    pool = [Fact("days", "45 days", 45.0, "45"), Fact("days", "90 days", 90.0, "90"),
            Fact("days", "30 days", 30.0, "30"), Fact("hours", "48 hours", 48.0, "48"),
            Fact("rs", "Rs 250", 250.0, "250")]
    wrong = distractors(answer, pool, "reply within 30 days")
    assert len(wrong) == 3 and len(set(wrong)) == 3 and "30 days" not in wrong
    assert all(w.endswith(" days") for w in wrong)  # same unit, different value
    assert "45 days" in wrong and "90 days" in wrong  # values from the material come first
    authority = Fact("authority", "First Appellate Authority", document="a.md")
    others = [Fact("authority", "Central Information Commission"), Fact("authority", "Appellate Authority"),
              Fact("authority", "Public Information Officer"), Fact("authority", "Disciplinary Authority")]
    wrong = distractors(authority, others, "x")
    assert wrong[0] == "Disciplinary Authority"  # same kind of body first
    assert "Appellate Authority" not in wrong  # a part of the answer would also be right


def test_generation_writes_pending_items_for_modules_without_bank(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    report = generate(kb)
    assert set(report.written) == {"appeals", "leave"}  # "office" has a hand-written bank
    items = generated_items(kb, "appeals")
    assert items and all(i["generated"] is True and i["status"] == "pending" and i["type"] == "single" for i in items)
    first = by_answer(items, "30 days")
    assert BLANK in first["question"] and "30 days" not in first["question"]
    assert first["explanation"] == "A first appeal lies to the First Appellate Authority within 30 days of the decision of the officer."
    assert first["source"] == {"document": "modules/appeals.md", "anchor": "1. First appeal"}
    assert first["competencies"] == ["RTI Act"]
    assert first["answer"] in first["options"] and len(set(first["options"])) == len(first["options"]) >= 3
    assert "45 days" in first["options"] or "90 days" in first["options"]  # drawn from the material
    assert first["id"] == sentence_id(first["explanation"])
    definition = by_answer(items, "First Appellate Authority")
    assert definition["question"].startswith("Fill in the blank: [ … ] (Section 19(1))")
    assert "Public Information Officer" in definition["options"]
    money = by_answer(items, "Rs 250")
    assert all(o.startswith("Rs ") for o in money["options"])
    # The files are valid banks, and nothing is served before review.
    loaded, problems = load_banks(kb / "quizzes", base=kb)
    assert not [p for p in problems if p.severity == "error"]
    assert any(i.generated and i.status == "pending" for i in loaded)
    bank, _ = QuizBank.load(kb / "quizzes", base=kb)
    assert [i.id for i in bank.items] == ["off-1"]
    assert generate(kb, all_modules=True).written.keys() == {"appeals", "leave", "office"}


def test_ids_are_stable_and_review_persists_across_regeneration(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    generate(kb)
    ids = [i["id"] for i in generated_items(kb, "appeals")]
    generate(kb)
    assert [i["id"] for i in generated_items(kb, "appeals")] == ids
    approve = by_answer(generated_items(kb, "appeals"), "30 days")["id"]
    reject = by_answer(generated_items(kb, "appeals"), "Rs 250")["id"]
    assert main(["review", "--kb", str(kb), "--approve", approve, "--reject", reject]) == 0
    # Re-indexing with an unrelated edit: a new sentence, everything else unchanged.
    doc = kb / "modules" / "appeals.md"
    doc.write_text(doc.read_text(encoding="utf-8") + "\nA complaint can be filed within 60 days of the refusal of the officer.\n",
                   encoding="utf-8")
    report = generate(kb)
    items = {i["id"]: i for i in generated_items(kb, "appeals")}
    assert items[approve]["status"] == "approved" and items[reject]["status"] == "rejected"
    assert report.kept_reviewed == 2 and report.new == 1
    assert set(ids) < set(items)
    bank, _ = QuizBank.load(kb / "quizzes", base=kb)
    served = {i.id for i in bank.items}
    assert approve in served and reject not in served
    assert not served & (set(items) - {approve}) - {"off-1"}  # pending items are not served
    assert review(kb / "quizzes" / "generated", approve=["gen-unknown"]) == (0, ["gen-unknown"])


def test_removed_source_sentence_drops_the_item(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    generate(kb)
    item = by_answer(generated_items(kb, "leave"), "60 days")
    review(kb / "quizzes" / "generated", approve=[item["id"]])
    assert item["id"] in {i.id for i in QuizBank.load(kb / "quizzes", base=kb)[0].items}
    doc = kb / "modules" / "leave.md"
    doc.write_text(doc.read_text(encoding="utf-8").replace("exceeds 60 days", "exceeds 90 days"), encoding="utf-8")
    bank, problems = QuizBank.load(kb / "quizzes", base=kb)
    assert item["id"] not in {i.id for i in bank.items}
    assert any(p.item_id == item["id"] and "no longer" in p.message and p.severity == "warning" for p in problems)
    report = generate(kb)
    assert report.dropped == 1
    assert item["id"] not in {i["id"] for i in generated_items(kb, "leave")}


def test_superseded_documents_and_bad_status_values(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    old = LEAVE.replace("module: leave", "module: leave-old\nsuperseded_by: leave")
    (kb / "modules" / "leave-old.md").write_text(old.replace("15 days", "10 days"), encoding="utf-8")
    assert "leave-old" not in generate(kb).written
    path = kb / "quizzes" / "generated" / "appeals.quiz.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("status: pending", "status: maybe", 1), encoding="utf-8")
    _, problems = load_banks(kb / "quizzes", base=kb)
    assert any("'status' must be one of" in p.message and p.severity == "error" for p in problems)


def _passage(text: str, source: str = "modules/appeals.md", anchor: str = "1. First appeal", **meta) -> Chunk:
    return Chunk(f"{source}#{anchor}", source, "Appeals", [anchor], anchor, text,
                 meta={"module": "appeals", "language": "en", **meta})


FIRST_APPEAL = _passage("A first appeal lies to the First Appellate Authority within 30 days of the decision of the "
                        "officer. The appellate officer must decide the appeal within 45 days of receiving it, with "
                        "reasons recorded.")


def test_items_are_drafted_from_one_passage_deterministically() -> None:
    second = _passage("A second appeal lies to the Central Information Commission within 90 days of the first "
                      "decision.", anchor="2. Second appeal")
    items = draft_items(FIRST_APPEAL, [second], today=dt.date(2026, 3, 2))
    assert items and items == draft_items(FIRST_APPEAL, [second], today=dt.date(2026, 3, 2))
    assert all(i["explanation"] in FIRST_APPEAL.text and BLANK in i["question"] for i in items)
    assert all(i["source"] == {"document": "modules/appeals.md", "anchor": "1. First appeal"} for i in items)
    first = next(i for i in items if i["answer"] == "30 days")
    assert "90 days" in first["options"]  # distractors from the rest of the document come first
    # Superseded material and a passage without facts give nothing to ask.
    assert draft_items(_passage(FIRST_APPEAL.text, superseded_by="x"), today=dt.date(2026, 3, 2)) == []
    assert draft_items(_passage("Officers should listen to citizens with courtesy and patience."), []) == []


def test_drafted_items_are_cached_by_the_passages_content(tmp_path: Path) -> None:
    cache = PassageQuizzes(tmp_path / "cache", today=lambda: dt.date(2026, 3, 2))
    items = cache.items_for(FIRST_APPEAL)
    assert items and all(i.generated and i.status == PASSAGE_STATUS for i in items)
    assert cache.items_for(FIRST_APPEAL, lambda: pytest.fail("drafted again")) == items
    edited = _passage(FIRST_APPEAL.text.replace("30 days", "60 days"))
    assert passage_key(edited) != passage_key(FIRST_APPEAL)
    assert any(i.answer == "60 days" for i in cache.items_for(edited))
    assert {i.id for i in cache.all_items()} >= {i.id for i in items}
    (tmp_path / "cache" / f"{passage_key(FIRST_APPEAL)}.yml").write_text("items: [unclosed", encoding="utf-8")
    assert [i.id for i in cache.items_for(FIRST_APPEAL)] == [i.id for i in items]  # a torn file is redrafted


def test_bank_items_on_the_passage_are_found_by_section_or_sentence(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    (kb / "modules").mkdir(parents=True)
    (kb / "modules" / "appeals.md").write_text(APPEALS, encoding="utf-8")
    generate(kb, index_dir=None, all_modules=True, today=dt.date(2026, 3, 2))
    path = kb / "quizzes" / "generated" / "appeals.quiz.yml"
    items, _ = load_banks(path.parent)
    by_section = [i for i in items if i.source_anchor == "1. First appeal"]
    assert by_section and passage_items_in_bank(items, FIRST_APPEAL) == by_section
    elsewhere = _passage(FIRST_APPEAL.text, anchor="Summary")  # same sentences under another heading
    assert {i.id for i in passage_items_in_bank(items, elsewhere)} <= {i.id for i in by_section}
    assert passage_items_in_bank(items, _passage(FIRST_APPEAL.text, source="modules/other.md")) == []
    bank = QuizBank(items)
    assert items_on_passage(bank, PassageQuizzes(tmp_path / "cache"), FIRST_APPEAL, lambda _: [])[0] == by_section[0]
