"""A daily lesson's check question waits through a digression (real role model, modules
and quiz banks; a real retriever over a small knowledge folder answers the question)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plans_fixtures import *  # noqa: F403  (fixtures: clock, kb_quizzes, plans)
from test_plans_fixtures import run_action, tracker

from actions.knowledge import ActionAnswerQuestion
from actions.plans import ActionStartOnboarding
from actions.quizzes import ActionCheckAnswer, ActionRepeatQuestion
from bot.knowledge.gate import Gate
from bot.knowledge.index import update_index
from bot.knowledge.search import Retriever
from tests.conftest import FakeEmbedder


@pytest.fixture
def knowledge(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> ActionAnswerQuestion:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return ActionAnswerQuestion(Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}),
                                          check_interval=0))


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))


async def test_lesson_check_question_waits_through_a_request_and_help(plans, kb_quizzes, knowledge) -> None:
    plans.quizzes.learner("telegram", "tg-recruit", consent=True)  # lessons are stored only after consent
    started = tracker("tg-recruit", text="start onboarding", intent="start_onboarding",
                      slots={"role": "new-recruit"}, channel="rest")
    _, events = await run_action(ActionStartOnboarding(plans), started)
    item_id = slot(events, "quiz_item_id")
    item = kb_quizzes.bank.get(item_id)
    learner = plans.find_learner("telegram", "tg-recruit")
    slots = {"role": "new-recruit", "quiz_active": True, "quiz_item_id": item_id}

    for text, intent in (("I forgot my iGOT password", "ask_question"), ("how do I get my course certificate?",
                                                                        "nlu_fallback")):
        messages, events = await run_action(ActionCheckAnswer(kb_quizzes, {}, knowledge=knowledge),
                                            tracker("tg-recruit", text=text, intent=intent, slots=slots,
                                                    channel="rest"))
        texts = [m.get("text") or "" for m in messages]
        assert not any(x.startswith(("Please answer", "✅", "❌")) for x in texts), texts
        assert texts[-2] == "Now, back to your question:" and item.question in texts[-1]
        assert slot(events, "quiz_item_id") == item_id
    messages, _ = await run_action(ActionRepeatQuestion(kb_quizzes, {}),
                                   tracker("tg-recruit", text="help", intent="help", slots=slots, channel="rest"))
    assert item.question in messages[-1]["text"]
    assert kb_quizzes.progress(learner).total_answered == 0  # nothing taken as an answer

    answer = {"true_false": "true" if item.answer is True else "false"}.get(item.type, item.answer_text.split(".")[0])
    messages, _ = await run_action(ActionCheckAnswer(kb_quizzes, {}, knowledge=knowledge),
                                   tracker("tg-recruit", text=answer, intent="nlu_fallback", slots=slots,
                                           channel="rest"))
    assert messages[0]["text"].startswith("✅ **Correct!**"), messages[0]["text"]
    assert kb_quizzes.progress(learner).total_answered == 1
