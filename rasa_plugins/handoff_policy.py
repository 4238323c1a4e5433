"""A dialogue policy that keeps the bot quiet while a human trainer has the conversation.

Why a policy and not rules: rules need a named intent, but during a live handoff *every*
learner message (whatever intent the NLU guesses, including ones other features add
later) must go to the trainer instead of being answered. Rasa's own "pause" cannot be
lifted without Rasa's HTTP API, which stays off in this project.

Behaviour, only while the ``handoff_active`` slot is true:

- right after a learner message (last action ``action_listen``) whose intent is not one
  of ``release_intents`` (by default ``end_handoff`` and ``restart``) or ``bypass_intents``
  (by default the data-rights requests: delete and export my data, withdraw my consent,
  and the confirm and cancel buttons they share), predict ``relay_action`` (``action_handoff_relay``: records/relays the
  message, stays silent);
- right after ``relay_action``, predict ``action_listen``.

Otherwise it abstains (all zeros), so the other policies decide as usual. Its priority
(default 7) is above RulePolicy's (6): with equal confidence 1.0 the ensemble prefers it.
Reference it in ``config.yml`` as ``rasa_plugins.handoff_policy.HandoffPolicy`` (Rasa
puts the project folder on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

#: Learners' data-rights requests (DPDP Act): the bot handles them even while a trainer has
#: the conversation, instead of relaying "delete my data" to the trainer as chat.
DATA_RIGHTS_INTENTS = ["delete_my_data", "confirm_delete_my_data", "cancel_delete_my_data", "export_my_data",
                       "withdraw_consent"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False)
class HandoffPolicy(Policy):
    """Route every learner message to the relay action while a handoff is active."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Defaults: slot, relay action, intents that end the handoff, priority."""
        return {
            "priority": 7,
            "slot": "handoff_active",
            "relay_action": "action_handoff_relay",
            "release_intents": ["end_handoff", "restart"],
            "bypass_intents": DATA_RIGHTS_INTENTS,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext, featurizer: Any = None) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        self.slot = config.get("slot", "handoff_active")
        self.relay_action = config.get("relay_action", "action_handoff_relay")
        self.release_intents = set(config.get("release_intents", ["end_handoff", "restart"]))
        # A model trained before this setting existed has no value for it: use the default.
        self.release_intents |= set(config.get("bypass_intents", DATA_RIGHTS_INTENTS))

    def train(self, training_trackers: list[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        """Nothing to learn: the behaviour is fixed."""
        return self._resource

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: dict[str, Any] | None = None,
                                     **kwargs: Any) -> PolicyPrediction:
        """Relay after a learner message during a handoff, then listen; otherwise abstain."""
        probabilities = self._default_predictions(domain)
        if not tracker.get_slot(self.slot) or self.relay_action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        last_action = tracker.latest_action_name
        intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
        if last_action == ACTION_LISTEN_NAME and intent not in self.release_intents:
            probabilities[domain.index_for_action(self.relay_action)] = 1.0
        elif last_action == self.relay_action:
            probabilities[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
        return self._prediction(probabilities)
