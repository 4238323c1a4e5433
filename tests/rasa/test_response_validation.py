"""rasa_plugins.response_validation in the Rasa environment: the action server's replies are
checked exactly as Rasa checks them, but the schema itself is checked once, not per reply.

Run by ``make test-rasa`` (``.venv-rasa/bin/python -m pytest --noconftest tests/rasa``).
"""

from __future__ import annotations

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from rasa_plugins import response_validation

VALID = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "language", "value": "hi", "timestamp": None}],
     "responses": [{"text": "नमस्ते", "buttons": [{"title": "Quiz", "payload": "/quiz_me"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"response": "utter_greet"}]},
    {},
]
INVALID = [
    {"events": [{"event": "no_such_event"}]},
    {"events": "slot"},
    {"responses": ["plain text instead of an object"]},
    {"events": [{"name": "language"}]},
]


def rasa_verdict(reply: dict) -> str | None:
    """What Rasa's own check (jsonschema.validate with its schema) says: None or the error message."""
    try:
        jsonschema.validate(reply, RemoteAction.action_response_format_spec())
    except ValidationError as error:
        return error.message
    return None


@pytest.mark.parametrize("reply", VALID)
def test_valid_replies_pass(reply: dict) -> None:
    assert rasa_verdict(reply) is None  # the cases really are valid for Rasa too
    assert response_validation.validate_action_result(reply) is True


@pytest.mark.parametrize("reply", INVALID)
def test_invalid_replies_raise_rasas_error_with_its_hint(reply: dict) -> None:
    expected = rasa_verdict(reply)
    assert expected is not None
    with pytest.raises(ValidationError) as caught:
        response_validation.validate_action_result(reply)
    assert caught.value.message.startswith(expected)
    assert "Failed to validate Action server response" in caught.value.message


def test_installed_check_never_rechecks_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    response_validation.install()
    action = RemoteAction("action_answer_question", None)
    calls: list[object] = []
    validator_class = type(response_validation._validator())
    original = validator_class.check_schema
    monkeypatch.setattr(validator_class, "check_schema",
                        classmethod(lambda cls, schema, *a, **k: (calls.append(schema), original(schema, *a, **k))))
    for _ in range(50):
        assert action._validate_action_result(VALID[1]) is True
    with pytest.raises(ValidationError):
        action._validate_action_result(INVALID[0])
    assert calls == []  # Rasa's own validate() would have checked the meta-schema 51 times
