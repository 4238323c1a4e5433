"""Every intent gets a real next action from the trained model, in and out of a quiz.

Run by ``make test-rasa`` on the trained model (``models/tutor.tar.gz``, or
``TUTOR_TEST_MODEL``). The dialogue has no TEDPolicy (``config.yml``): rules and memorised
stories decide every turn, so an intent that no rule covers would get the core fallback
("Sorry, I did not get that") whatever the learner meant. This asks the model itself, through
Rasa's own prediction path, for each intent of ``domain.yml`` on a fresh conversation and
during a quiz.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("TUTOR_TEST_MODEL") or ROOT / "models" / "tutor.tar.gz")
FALLBACK = "action_default_fallback"


@pytest.fixture(scope="module")
def agent() -> Agent:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    return Agent.load(str(MODEL))


def _next_action(agent: Agent, intent: str, quiz_active: bool) -> tuple[str, float]:
    domain = agent.domain
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted(ACTION_LISTEN_NAME),
              SlotSet("quiz_active", quiz_active), UserUttered(f"/{intent}", {"name": intent, "confidence": 1.0})]
    tracker = DialogueStateTracker.from_events("learner", events, slots=domain.slots)
    prediction = agent.processor.predict_next_with_tracker(tracker)
    assert prediction is not None
    best = max(prediction["scores"], key=lambda score: score["score"])
    return best["action"], prediction["confidence"]


def test_the_model_knows_the_whole_domain(agent):
    assert len(agent.domain.intents) >= 40  # the real domain, not an empty one


@pytest.mark.parametrize("quiz_active", [False, True], ids=["outside a quiz", "during a quiz"])
def test_every_intent_has_a_next_action(agent, quiz_active):
    unhandled = {}
    for intent in agent.domain.intents:
        action, confidence = _next_action(agent, intent, quiz_active)
        if action in (FALLBACK, ACTION_LISTEN_NAME) or confidence < 0.9:
            unhandled[intent] = (action, round(confidence, 2))
    assert not unhandled, f"intents with no rule (they would get the fallback): {unhandled}"


def test_a_question_during_a_quiz_goes_to_the_answer_checker(agent):
    # A condition on the quiz slot, not the unconditioned rule, decides this turn; the checker
    # itself answers what does not look like an answer and keeps the quiz waiting.
    assert _next_action(agent, "ask_question", quiz_active=True)[0] == "action_check_answer"
    assert _next_action(agent, "ask_question", quiz_active=False)[0] == "action_answer_question"


def test_a_message_no_rule_covers_gets_the_fallback(agent):
    # The check above can fail: with no TED to guess, an uncovered intent meets the fallback.
    assert _next_action(agent, "an_intent_no_rule_covers", quiz_active=False)[0] == FALLBACK
