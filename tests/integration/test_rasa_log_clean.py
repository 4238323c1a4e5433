"""Greeting, help and the language choice leave no ERROR in the real Rasa server's log.

Rasa read the braces of the language buttons' payloads (``/choose_language{"language": "hi"}``)
as slot placeholders and logged an ERROR each time it sent one of those responses.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.integration.test_stack import chat

pytestmark = pytest.mark.integration

ERROR_LINE = re.compile(r"\[error\s*\]|\bERROR\b|Traceback")


def _log_size(stack) -> int:
    path = stack.log_dir / "rasa.log"
    return path.stat().st_size if path.exists() else 0


def test_greeting_help_and_language_buttons_log_no_error(stack) -> None:
    sender = f"t-{uuid.uuid4().hex[:8]}"
    start = _log_size(stack)
    replies = chat(stack, "hi", sender) + chat(stack, "help", sender) + chat(stack, "/choose_language", sender)
    payloads = {b["payload"] for r in replies for b in r.get("buttons", [])}
    assert {'/choose_language{"language": "hi"}', '/choose_language{"language": "en"}'} <= payloads
    chosen = chat(stack, '/choose_language{"language": "hi"}', sender)
    assert "हिंदी" in "\n".join(r.get("text", "") for r in chosen)
    with open(stack.log_dir / "rasa.log", encoding="utf-8", errors="replace") as log:
        log.seek(start)
        appended = log.read()
    assert [line for line in appended.splitlines() if ERROR_LINE.search(line)] == []
