"""Data-rights requests are not relayed to the trainer during a live handoff (real HandoffPolicy)."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_plugins.handoff_policy import HandoffPolicy

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [ask_question, delete_my_data, confirm_delete_my_data, export_my_data, withdraw_consent, consent_decline,
          end_handoff]
slots:
  handoff_active: {type: bool, initial_value: false, mappings: [{type: custom}]}
actions: [action_handoff_relay, action_delete_my_data, action_export_my_data]
""")


def _predict(tmp_path, intent: str, config: dict | None = None) -> str | None:
    policy = HandoffPolicy(HandoffPolicy.get_default_config() if config is None else config,
                           LocalModelStorage(tmp_path), Resource("handoff"),
                           ExecutionContext(GraphSchema({}), "test"))
    tracker = DialogueStateTracker.from_events("learner", [
        ActionExecuted(ACTION_LISTEN_NAME), SlotSet("handoff_active", True),
        UserUttered("text", {"name": intent, "confidence": 1.0}),
    ], slots=DOMAIN.slots)
    probabilities = policy.predict_action_probabilities(tracker, DOMAIN).probabilities
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return DOMAIN.action_names_or_texts[best] if probabilities[best] > 0 else None


def test_ordinary_messages_still_go_to_the_trainer(tmp_path):
    assert _predict(tmp_path, "ask_question") == "action_handoff_relay"


@pytest.mark.parametrize("intent", ["delete_my_data", "confirm_delete_my_data", "export_my_data", "withdraw_consent"])
def test_data_rights_requests_are_left_to_the_bot(tmp_path, intent):
    assert _predict(tmp_path, intent) is None  # abstains: the rules run the request


def test_a_decline_typed_to_the_trainer_is_still_relayed(tmp_path):
    # "I do not agree" in a live chat is most likely about what the trainer said.
    assert _predict(tmp_path, "consent_decline") == "action_handoff_relay"


def test_a_model_trained_before_the_setting_still_lets_them_through(tmp_path):
    stored_config = {"priority": 7, "slot": "handoff_active", "relay_action": "action_handoff_relay",
                     "release_intents": ["end_handoff", "restart"]}  # no bypass_intents key
    assert _predict(tmp_path, "delete_my_data", stored_config) is None
    assert _predict(tmp_path, "ask_question", stored_config) == "action_handoff_relay"
