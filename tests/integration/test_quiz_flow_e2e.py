"""End to end over REST (real Rasa, action server, knowledge base): consent resumes the
quiz the learner asked for, and questions or help mid-quiz are handled while the quiz waits."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.integration


def chat(stack, message: str, sender: str) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def text_of(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def question_of(replies: list[dict]) -> str:
    """The last quiz question in the replies (its header line onwards)."""
    questions = [r["text"] for r in replies if re.search(r"\*\*(?:Question|प्रश्न) \d+ ", r.get("text", ""))]
    assert questions, text_of(replies)
    return questions[-1]


def test_consent_resumes_the_quiz_and_a_question_mid_quiz_is_answered_then_asked_again(stack) -> None:
    sender = f"t-{uuid.uuid4().hex[:8]}"
    notice = text_of(chat(stack, "quiz me on RTI", sender))
    assert "May I save your progress?" in notice, notice
    replies = chat(stack, "/consent_accept", sender)
    assert "of **RTI**" in text_of(replies), text_of(replies)  # the quiz asked for, without asking again
    pending = question_of(replies)
    assert not re.search("[\u0900-\u097F]", pending), pending  # an English learner gets the English bank

    replies = chat(stack, "What is the fee for an RTI application?", sender)
    text = text_of(replies)
    assert "Please answer" not in text and "📖" in text, text  # answered from the material
    assert "Now, back to your question:" in text and question_of(replies) == pending, text

    replies = chat(stack, "what can you do", sender)
    text = text_of(replies)
    assert "Here is what I can do" in text and "**Quiz you**" in text, text
    assert question_of(replies) == pending

    buttons = [b["payload"] for r in replies for b in r.get("buttons", []) if b["payload"].startswith("/answer_quiz")]
    answer = buttons[0] if buttons else "30 days"  # a short-answer question has no answer buttons
    replies = chat(stack, answer, sender)
    assert re.search(r"✅|❌", text_of(replies)), text_of(replies)  # now it counts as the answer
