"""Erasure in the human loop: no learner's wording outlives their erasure, and none is published.

Real human-loop store on SQLite, real FAQ writer on a temporary knowledge folder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.privacy import erase_learner, export_learner
from tests.unit.handoff_support import make_loop

FIRST = "Ravi here: how do I claim the children education allowance?"
SECOND = "how to claim the children education allowance"


def test_a_merged_item_drops_the_erased_askers_wording(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    ref = loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    assert loop.record_unanswered("web-other", SECOND, [], "socketio") == ref  # merged into one item
    assert loop.records.get_item(ref).question == FIRST

    counts = loop.records.erase_sender("web-ravi")

    item = loop.records.get_item(ref)
    assert item.question == SECOND and item.ask_count == 1 and counts["queue_items_reworded"] == 1
    assert all("Ravi" not in i.question for i in loop.records.list_items(status=None))


def test_an_item_keeps_its_wording_when_a_later_asker_is_erased(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    ref = loop.record_unanswered("web-first", SECOND, [], "socketio")
    loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    loop.records.erase_sender("web-ravi")
    assert loop.records.get_item(ref).question == SECOND


def test_the_faq_publishes_the_trainers_question_never_the_learners(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    ref = loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    with pytest.raises(ValueError, match="write the question"):
        loop.answer_item(ref, "Claim it with form CEA-1.", "meera", add_to_kb=True)
    assert not (tmp_path / "kb" / "faq").exists()  # nothing published, and the item is still open
    assert loop.records.get_item(ref).status == "open"

    result = loop.answer_item(ref, "Claim it with form CEA-1.", "meera", add_to_kb=True,
                              faq_question="How do I claim children education allowance?")
    text = result.kb_path.read_text(encoding="utf-8")
    assert "# How do I claim children education allowance?" in text
    assert "Ravi" not in text and "ravi" not in result.kb_path.name


def test_erasure_through_the_privacy_module_reaches_the_human_loop(tmp_path: Path) -> None:
    from bot.quizzes import QuizBank, Quizzes

    loop, _ = make_loop(tmp_path)
    quizzes = Quizzes(loop.records.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0])
    ref = loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    loop.record_unanswered("web-other", SECOND, [], "socketio")
    report = erase_learner(quizzes, "socketio", "web-ravi")
    assert report.complete and loop.records.get_item(ref).question == SECOND


def test_erasure_removes_an_faq_still_in_the_learners_words_and_keeps_the_trainers(tmp_path: Path) -> None:
    from bot.handoff.faq import write_faq
    from bot.quizzes import QuizBank, Quizzes

    loop, clock = make_loop(tmp_path)
    quizzes = Quizzes(loop.records.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0])
    kb = tmp_path / "kb"
    # Written before FAQs took the trainer's wording: the learner's question verbatim.
    legacy = loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    path = write_faq(kb, legacy, FIRST, "Use form CEA-1.", "meera", clock().date())
    loop.records.mark_answered(legacy, "Use form CEA-1.", "meera", f"faq/{path.name}")
    reworded = loop.record_unanswered("web-ravi", "Ravi again: what is the RTI fee?", [], "socketio")
    kept = loop.answer_item(reworded, "Rs 10.", "meera", add_to_kb=True, faq_question="What is the RTI fee?").kb_path

    report = erase_learner(quizzes, "socketio", "web-ravi", kb_dir=kb)

    assert report.complete and report.removed["faq_documents"] == 1
    assert not path.exists() and kept.exists()


def test_the_delete_action_erases_everything_and_restarts_the_conversation(tmp_path: Path, monkeypatch) -> None:
    from rasa_sdk.events import AllSlotsReset, Restarted
    from test_plans_fixtures import run_action, tracker

    from actions.privacy import ActionDeleteMyData
    from bot.handoff.faq import write_faq
    from bot.quizzes import QuizBank, Quizzes

    loop, clock = make_loop(tmp_path)
    kb = tmp_path / "kb"
    monkeypatch.setenv("TUTOR_KB_DIR", str(kb))
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    quizzes = Quizzes(loop.records.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0])
    quizzes.learner("socketio", "web-ravi", consent=True, department="Revenue")
    ref = loop.record_unanswered("web-ravi", FIRST, [], "socketio")
    path = write_faq(kb, ref, FIRST, "Use form CEA-1.", "meera", clock().date())
    loop.records.mark_answered(ref, "Use form CEA-1.", "meera", f"faq/{path.name}")

    from actions.knowledge import RECENT_RESULTS

    RECENT_RESULTS._entries["web-ravi"] = "the last answer, kept for paging"  # the learner's last search

    messages, events = asyncio.run(run_action(ActionDeleteMyData(lambda: quizzes),
                                              tracker("web-ravi", text="/confirm_delete_my_data",
                                                      intent="confirm_delete_my_data")))

    assert messages[0]["text"].startswith("Done: I have deleted") and events == [AllSlotsReset(), Restarted()]
    assert loop.records.get_item(ref) is None and not path.exists()
    assert "web-ravi" not in RECENT_RESULTS._entries  # nor the search kept for "show more"
    exported = export_learner(quizzes, "socketio", "web-ravi")
    assert exported["learner"] == {} and not any(exported["human_loop"].values())
