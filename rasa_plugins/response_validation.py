"""Validate the action server's replies against a schema compiled once, not once per action.

Rasa checks every custom action's reply with ``jsonschema.validate(reply, schema)``. That
function first validates the *schema itself* against JSON Schema's meta-schema, then builds
a new validator, on every call. Under ``make bench`` that meta-schema check was 30 % of the
Rasa process's CPU (py-spy, one learner): more than NLU and all policies together. The
schema is Rasa's own constant, so one check at start-up is enough; each reply is still
validated in full, with the same error (and Rasa's same hint appended) when it is invalid.

:func:`install` is called by :mod:`rasa_plugins.serve` before Rasa starts.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _validator() -> Any:
    """The validator jsonschema.validate would build for Rasa's reply schema (schema checked once)."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(result: dict[str, Any]) -> bool:
    """Rasa's ``RemoteAction._validate_action_result`` with the compiled validator.

    Args:
        result: The action server's JSON reply.

    Returns:
        True when the reply is valid.

    Raises:
        jsonschema.ValidationError: the reply does not match the schema (the message
            ends with Rasa's pointer to the custom-actions documentation, as before).
    """
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the "
        f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Replace Rasa's per-call schema check with :func:`validate_action_result` (idempotent)."""
    from rasa.core.actions.action import RemoteAction

    _validator()  # compile (and check the schema) now, not on the first learner's message

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        return validate_action_result(result)

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
