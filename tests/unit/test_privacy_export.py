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
from bot.learning import Learning, QuizBank
from tests.unit.handoff_support import make_loop


def test_the_export_file_holds_questions_transcripts_and_feedback(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    learning = Learning(loop.store.factory.kw["bind"], QuizBank.load(tmp_path / "none")[0])
    learning.learner("socketio", "web-me", consent=True, department="Revenue")
    ref = loop.record_unanswered("web-me", "is yoga leave allowed?", [], "socketio")
    loop.answer_item(ref, "Yes, two days.", "meera", add_to_kb=False)
    loop.request_trainer("web-me", "help with pension", "socketio")
    loop.relay("web-me", "my pension question")
    loop.feedback("web-me", "socketio", "what is GPF", ["modules/a.md"], positive=False)
    loop.store.log_question("web-me", "socketio", "what is GPF", answered=True)
    loop.record_unanswered("web-other", "someone else's question about transfers", [], "socketio")

    messages, events = asyncio.run(run_action(ActionExportMyData(lambda: learning),
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
