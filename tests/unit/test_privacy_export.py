"""Export: everything held about a learner, human-loop rows included, delivered as a file.

The action runs as the action server runs it, over a real SQLite store shared by the
learner tables and the human loop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from test_plans_fixtures import run_action, tracker

from actions.privacy import ActionExportMyData
from bot.quizzes import QuizBank, Quizzes
from tests.unit.handoff_support import make_loop


def test_the_export_file_holds_questions_transcripts_and_feedback(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    quizzes = Quizzes(loop.records.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0])
    quizzes.learner("socketio", "web-me", consent=True, department="Revenue")
    ref = loop.record_unanswered("web-me", "is yoga leave allowed?", [], "socketio")
    loop.answer_item(ref, "Yes, two days.", "meera", add_to_kb=False)
    loop.request_trainer("web-me", "help with pension", "socketio")
    loop.relay("web-me", "my pension question")
    loop.feedback("web-me", "socketio", "what is GPF", ["modules/a.md"], positive=False)
    loop.records.log_question("web-me", "socketio", "what is GPF", answered=True)
    loop.record_unanswered("web-other", "someone else's question about transfers", [], "socketio")

    messages, events = asyncio.run(run_action(ActionExportMyData(lambda: quizzes),
                                              tracker("web-me", text="export my data", intent="export_my_data")))

    assert events == [] and messages[0]["text"].startswith("Here is all the data I hold about you")
    file = messages[1]["custom"]["data"]
    assert file["type"] == "file" and file["name"].endswith(".json") and file["mime_type"] == "application/json"
    data = json.loads(file["content"])
    loop_rows = data["human_loop"]
    assert data["learner"]["learners"][0]["department"] == "Revenue"
    assert [q["question"] for q in loop_rows["queue_askers"]] == ["is yoga leave allowed?", "help with pension",
                                                                  "what is GPF"]  # the thumbs-down filed it
    assert loop_rows["queue_askers"][0]["trainer_answer"] == "Yes, two days."
    assert [m["text"] for m in loop_rows["handoff_messages"]] == ["my pension question"]
    assert loop_rows["answer_feedback"][0]["question"] == "what is GPF"
    assert loop_rows["question_log"][-1]["question"] == "what is GPF"
    assert "someone else" not in file["content"]


def test_the_export_holds_the_onboarding_and_review_reminder_tables(tmp_path: Path) -> None:
    from quiz_support import FakeClock, make_quizzes
    from test_plans_fixtures import KB, real_chunks

    from bot.plans.service import Plans
    from bot.privacy import erase_learner
    from bot.quizzes.reminders import run_once as remind_once

    clock = FakeClock()
    quizzes = make_quizzes(f"sqlite:///{tmp_path / 'learners.db'}", QuizBank.load(KB / "quizzes", base=KB)[0],
                             clock)
    material = real_chunks()
    plans = Plans(quizzes, KB, chunks=lambda: material)
    learner = quizzes.learner("socketio", "web-me", consent=True)
    plans.onboarding.start(learner, role_id="new-recruit", send_time="08:15")
    plans.onboarding.prepare(learner)
    question = quizzes.start_quiz(learner, module="rti-for-pios", n=4)
    while question is not None:
        question = quizzes.skip(learner, item_id=question.item_id).question
    clock.advance(hours=1)
    assert remind_once(quizzes, None).pending == 1

    messages, _ = asyncio.run(run_action(ActionExportMyData(lambda: quizzes),
                                         tracker("web-me", text="export my data", intent="export_my_data")))

    data = json.loads(messages[1]["custom"]["data"]["content"])["learner"]
    assert [(t["track"], t["send_time"], t["day"]) for t in data["onboarding_tracks"]] == [("new-recruit", "08:15", 1)]
    assert [lesson["day"] for lesson in data["onboarding_lessons"]] == [1]
    assert data["onboarding_lessons"][0]["module"] and data["onboarding_lessons"][0]["source"].startswith("modules/")
    assert [(r["due_count"], r["pending"]) for r in data["review_reminders"]] == [(4, True)]
    # Erasure reports the same tables, removed explicitly (not only by ON DELETE CASCADE).
    removed = erase_learner(quizzes, "socketio", "web-me").removed
    assert (removed["onboarding_tracks"], removed["onboarding_lessons"], removed["review_reminders"]) == (1, 1, 1)
    quizzes.engine.dispose()
