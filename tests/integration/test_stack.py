"""End to end through the doors users and operators use: REST, socket.io, the KB folder."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def chat(stack, message: str, sender: str | None = None) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender or f"t-{uuid.uuid4().hex[:8]}", "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def text_of(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_question_gets_a_cited_answer_over_rest(stack) -> None:
    replies = chat(stack, "What is the fee for an RTI application?")
    text = text_of(replies)
    assert "10" in text
    assert "📖 **Source:** Right to Information for Public Information Officers" in text
    assert any(b["payload"] == "/show_more" for r in replies for b in r.get("buttons", []))


def test_off_topic_question_is_declined_not_answered(stack) -> None:
    text = text_of(chat(stack, "who won the cricket match"))
    assert "could not find this in the course material" in text
    assert "Source:" not in text


def test_near_miss_is_declined_but_points_to_the_closest_section(stack) -> None:
    """The course mentions the GPF only as a retirement payment, not the form to withdraw it."""
    sender = f"t-{uuid.uuid4().hex[:8]}"
    replies = chat(stack, "how do I apply for a GPF withdrawal", sender)
    text = text_of(replies)
    assert "could not find a direct answer" in text
    assert "The closest section is **Pension and Retirement Benefits: The Basics" in text
    assert "📖" not in text  # named, not quoted as an answer
    assert [b["payload"] for r in replies for b in r.get("buttons", [])][0] == "/show_full_passage"
    opened = text_of(chat(stack, "/show_full_passage", sender))
    assert opened.startswith("⚠️ This is the closest section I found. It may not answer your exact question:")
    assert "General Provident Fund" in opened


def test_show_more_pages_to_another_passage(stack) -> None:
    sender = f"t-{uuid.uuid4().hex[:8]}"
    first = text_of(chat(stack, "how many casual leaves in a year", sender))
    more = text_of(chat(stack, "show more", sender))
    assert more.startswith("Here is the next passage I found:")
    assert more.split("📖")[0] != first.split("📖")[0]


def test_a_long_conversation_carries_on_across_session_rollovers(stack) -> None:
    """The stack rolls sessions over every 4 messages: quiz, paging and language survive."""
    import re

    sender = f"t-{uuid.uuid4().hex[:8]}"
    chat(stack, "reply in hindi", sender)  # explicit language choice (turn 1)
    chat(stack, "/consent_accept", sender)
    replies = chat(stack, "/quiz_me", sender)
    numbers = []
    for _ in range(4):  # four of the five answers: a rollover falls after the first
        headers = re.findall(r"(?:प्रश्न|Question) (\d+)", text_of(replies))
        assert headers, text_of(replies)
        numbers.append(int(headers[-1]))
        buttons = [b["payload"] for r in replies for b in r.get("buttons", [])]
        # A short-answer question has no answer buttons: type an answer instead.
        answer = next((b for b in buttons if b.startswith("/answer_quiz")), "तीस दिन")
        replies = chat(stack, answer, sender)
        assert re.search(r"✅|❌", text_of(replies)), text_of(replies)  # still marked as a quiz answer
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)  # the quiz moved on, never restarted
    paused = text_of(chat(stack, "/stop_quiz", sender))
    assert "प्रश्नोत्तरी रुकी: 4 में से" in paused, paused  # all four answers counted, in Hindi
    first = text_of(chat(stack, "आकस्मिक अवकाश कितने दिन का होता है", sender))
    for _ in range(3):
        chat(stack, "धन्यवाद", sender)  # a rollover between the question and "show more"
    more = text_of(chat(stack, "show more", sender))
    assert more.split("📖")[0] != first.split("📖")[0] and "📖" in more
    assert re.search("[\u0900-\u097F]", more.split("📖")[0])  # still in Hindi


def test_hindi_greeting_gets_a_hindi_reply(stack) -> None:
    assert "नमस्ते" in text_of(chat(stack, "नमस्ते"))


def test_action_server_refuses_calls_without_the_token(stack) -> None:
    body = json.dumps({"next_action": "action_answer_question", "tracker": {"sender_id": "x"}}).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        request = urllib.request.Request(f"http://127.0.0.1:{stack.action_port}/webhook", data=body,
                                         headers={"Content-Type": "application/json", **headers})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 401


def _listening(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                addresses.add(address)
    return addresses


def test_only_the_web_page_could_listen_beyond_loopback(stack) -> None:
    loopback = {"0100007F", "00000000000000000000000001000000"}
    for port in (stack.rasa_port, stack.action_port):
        found = _listening(port)
        assert found and found <= loopback, f"port {port} listens on {found}"


def test_question_over_socketio_through_the_page_server(stack) -> None:
    import socketio

    async def converse() -> list[dict]:
        client = socketio.AsyncClient()
        replies: list[dict] = []
        got = asyncio.Event()

        @client.on("bot_uttered")
        async def on_bot(data):
            replies.append(data)
            if "📖" in (data.get("text") or ""):
                got.set()

        origin = f"http://127.0.0.1:{stack.web_port}"
        # The page server issues the session (POST /session); the socket carries its token.
        request = urllib.request.Request(f"{origin}/session", data=b"{}", headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=10) as resp:
            token = json.loads(resp.read())["token"]
        await client.connect(origin, transports=["websocket"], socketio_path="/socket.io",
                             headers={"Origin": origin}, auth={"token": token})
        await client.emit("session_request", {})
        await asyncio.sleep(0.5)
        await client.emit("user_uttered", {"message": "how much casual leave can I take in a year?"})
        try:
            await asyncio.wait_for(got.wait(), 60)
        finally:
            await client.disconnect()
        return replies

    replies = asyncio.run(converse())
    text = "\n".join(r.get("text", "") for r in replies)
    assert "📖 **Source:** " in text and "eight" in text.lower() or "8" in text


def test_trainer_edits_to_the_folder_change_answers_live(stack) -> None:
    question = "What is the dress code for the annual Karmayogi sports day?"
    assert "could not find" in text_of(chat(stack, question))
    new_doc = stack.kb_dir / "modules" / "sports-day.md"
    new_doc.write_text(
        "---\ntitle: \"Annual Karmayogi sports day\"\nlanguage: en\n---\n# Annual Karmayogi sports day\n\n"
        "## 1. Dress code\nFor the annual Karmayogi sports day the dress code is a white kurta with "
        "the department badge; sports shoes are compulsory for all participants.\n",
        encoding="utf-8",
    )
    answered = _wait_for(lambda: "white kurta" in text_of(chat(stack, question)), timeout=120)
    assert answered, "the new document was not served within 120 s"
    new_doc.unlink()
    gone = _wait_for(lambda: "white kurta" not in text_of(chat(stack, question)), timeout=120)
    assert gone, "the deleted document was still cited"


def _wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(2)
    return False
