"""Both channels end to end against the REAL stack (Rasa + action server + page server).

* Web: socket.io clients through the page server's proxy. A client that names another
  learner's session id must not see or touch that conversation; forged or altered
  session tokens are refused.
* Telegram: the real bridge process (``python -m bot.channels.telegram_bridge``) polls the
  fake Bot API server of tests/telegram and talks to the real Rasa REST channel. The
  conversation is written to ``.state/transcripts/telegram-transcript.md`` (the README's
  transcript in docs/ is a copy of it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.integration

TRANSCRIPT = PROJECT_ROOT / ".state" / "transcripts" / "telegram-transcript.md"
RTI_QUESTION = "What is the fee for an RTI application?"


# ---------------------------------------------------------------- web: sessions


def new_token(stack, origin: str | None = None) -> str:
    """Ask the page server for a session token, as the widget does."""
    origin = origin or f"http://127.0.0.1:{stack.web_port}"
    request = urllib.request.Request(f"http://127.0.0.1:{stack.web_port}/session", data=b"{}",
                                     headers={"Origin": origin, "Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["token"]


class Learner:
    """A socket.io client speaking the widget's protocol through the page server."""

    def __init__(self, stack) -> None:
        import socketio

        self.origin = f"http://127.0.0.1:{stack.web_port}"
        self.client = socketio.AsyncClient(reconnection=False)
        self.replies: list[dict] = []
        self.confirmed: list[str] = []
        self.client.on("bot_uttered", self.replies.append)
        self.client.on("session_confirm", lambda sid: self.confirmed.append(sid))

    async def connect(self, token: str | None, session_id: str | None = None, wait_timeout: float = 10) -> str:
        """Connect with ``token``, ask for ``session_id`` (ignored by the server) and return the confirmed id."""
        await self.client.connect(self.origin, transports=["websocket"], socketio_path="/socket.io",
                                  headers={"Origin": self.origin}, auth={"token": token} if token else None,
                                  wait_timeout=wait_timeout)
        await self.client.emit("session_request", {"session_id": session_id})
        await until(lambda: self.confirmed, 10)
        return self.confirmed[-1]

    async def say(self, text: str, session_id: str | None = None) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id})

    def text(self) -> str:
        return "\n".join(r.get("text") or "" for r in self.replies)


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_a_client_naming_another_learners_session_sees_nothing_of_it(stack) -> None:
    alice, mallory = Learner(stack), Learner(stack)
    try:
        alice_id = await alice.connect(new_token(stack))
        await alice.say(RTI_QUESTION)
        await until(lambda: "📖" in alice.text(), 60)
        alice_answer = alice.text()
        assert "Right to Information" in alice_answer

        # Mallory learned Alice's raw id (it is in session_confirm) and asks to join it.
        mallory_id = await mallory.connect(new_token(stack), session_id=alice_id)
        assert mallory_id != alice_id
        # "show more" would page through Alice's RTI answer if Mallory were in her conversation.
        await mallory.say("show more", session_id=alice_id)
        await until(lambda: mallory.replies, 60)
        await asyncio.sleep(1.0)
        assert "Right to Information" not in mallory.text()
        assert "next passage" not in mallory.text()

        # Alice's conversation goes on untouched, and Mallory hears none of it.
        seen_by_mallory = len(mallory.replies)
        await alice.say("show more")
        await until(lambda: "next passage" in alice.text(), 60)
        await asyncio.sleep(1.0)
        assert len(mallory.replies) == seen_by_mallory
        assert "Right to Information" in alice.text().split(alice_answer, 1)[1]
    finally:
        await alice.client.disconnect()
        await mallory.client.disconnect()


@pytest.mark.parametrize("how", ["tampered signature", "another id, same signature", "no token and no cookie",
                                 "raw session id as token"])
async def test_forged_or_missing_tokens_are_refused(stack, how: str) -> None:
    import socketio

    token = new_token(stack)
    version, session_id, issued, signature = token.split(".")
    forged = {
        "tampered signature": f"{version}.{session_id}.{issued}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "another id, same signature": f"{version}.{'0' * 32}.{issued}.{signature}",
        "no token and no cookie": None,
        "raw session id as token": session_id,
    }[how]
    mallory = Learner(stack)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await mallory.connect(forged, wait_timeout=3)
    await mallory.client.disconnect()
    assert mallory.confirmed == [] and mallory.replies == []


def test_session_endpoint_refuses_a_foreign_origin(stack) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        new_token(stack, origin="https://evil.example")
    assert err.value.code == 403


# ---------------------------------------------------------------- Telegram


def _load_fake_bot_api():
    # tests/telegram is not a package (and "telegram" is python-telegram-bot's name): load by path.
    path = PROJECT_ROOT / "tests" / "telegram" / "fake_bot_api.py"
    spec = importlib.util.spec_from_file_location("fake_bot_api_fullstack", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TOKEN = "777000:FULLSTACK-token_for-the-fake-api"
CHAT_EN, CHAT_HI = 5001, 5002


class TelegramRun:
    """The fake Bot API + the real bridge process + a transcript of what was said."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.next_update = 1
        self.transcript: list[tuple[int, str, str]] = []  # (chat, who, text)

    def sent(self, chat_id: int) -> list[dict]:
        return [c.params for c in self.api.calls_to("sendMessage") if int(c.params["chat_id"]) == chat_id]

    async def say(self, chat_id: int, text: str, *, settle: float = 1.5, timeout: float = 60) -> list[dict]:
        """Send ``text`` as the learner and return the bot's messages in reply."""
        before = len(self.sent(chat_id))
        self.api.push_update(self.api.message_update(self.next_update, chat_id, text))
        self.next_update += 1
        self.transcript.append((chat_id, "learner", text))
        return await self._replies(chat_id, before, settle, timeout)

    async def press(self, chat_id: int, message: dict, title: str, *, settle: float = 1.5) -> list[dict]:
        """Press the inline button ``title`` under the bot message ``message``."""
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        (button,) = [b for b in buttons if b["text"] == title]
        before = len(self.sent(chat_id))
        self.api.push_update(self.api.callback_update(self.next_update, chat_id, button["callback_data"]))
        self.next_update += 1
        self.transcript.append((chat_id, "learner", f"[presses the button “{title}”]"))
        return await self._replies(chat_id, before, settle, 60)

    async def _replies(self, chat_id: int, before: int, settle: float, timeout: float) -> list[dict]:
        await until(lambda: len(self.sent(chat_id)) > before, timeout)
        # Rasa may send several messages per turn: wait until no more arrive for a moment.
        count = -1
        while count != len(self.sent(chat_id)):
            count = len(self.sent(chat_id))
            await asyncio.sleep(settle)
        replies = self.sent(chat_id)[before:]
        for reply in replies:
            buttons = [b["text"] for row in (reply.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
            self.transcript.append((chat_id, "bot", reply["text"] + (f"\n[buttons: {' | '.join(buttons)}]" if buttons else "")))
        return replies

    def write_transcript(self, path: Path) -> None:
        lines = [
            "# Telegram transcript (real stack)",
            "",
            "Recorded by `tests/integration/test_channels_fullstack.py::test_telegram_bridge_against_the_real_rasa`:",
            "the real bridge process (`python -m bot.channels.telegram_bridge`) polling a fake Bot API",
            "server on loopback, with the real Rasa server, action server and knowledge base behind it.",
            "Bot messages are shown exactly as sent to Telegram (`parse_mode=HTML`).",
            "",
        ]
        for chat_id, title in ((CHAT_EN, "English"), (CHAT_HI, "Hindi")):
            lines += [f"## {title}", ""]
            for chat, who, text in self.transcript:
                if chat != chat_id:
                    continue
                if who == "learner":
                    lines += [f"**Learner:** {text}", ""]
                else:
                    lines += ["**Tutor:**", "", "```html", text, "```", ""]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")


async def test_telegram_bridge_against_the_real_rasa(stack, tmp_path: Path) -> None:
    fake = _load_fake_bot_api()
    api = fake.FakeBotApi(TOKEN)
    await api.start()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.root,
        "RASA_URL": f"http://127.0.0.1:{stack.rasa_port}",
        "RASA_TIMEOUT": "60",
        "TUTOR_STATE_DIR": str(tmp_path / "state"),
        "ACTION_SERVER_TOKEN": stack.token,
        "TELEGRAM_PROACTIVE_PORT": "0",
        "TUTOR_PSEUDONYM_SALT": "fullstack-test-salt",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.channels.telegram_bridge", env=env, cwd=str(PROJECT_ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    run = TelegramRun(api)
    try:
        await until(lambda: api.calls_to("setMyCommands"), 30)

        # English: /start, a question, a button press, a command.
        (greeting,) = await run.say(CHAT_EN, "/start")
        assert greeting["parse_mode"] == "HTML"
        assert greeting["text"].startswith("Namaste! 🙏 I am your Karmayogi course tutor.")
        assert "<b>help</b>" in greeting["text"]  # Markdown bold became HTML

        answer = await run.say(CHAT_EN, RTI_QUESTION)
        cited = next(m for m in answer if "📖" in m["text"])
        assert "📖 <b>Source:</b> Right to Information for Public Information Officers" in cited["text"]
        assert "10" in "\n".join(m["text"] for m in answer)
        assert all(m["parse_mode"] == "HTML" for m in answer)
        # Only our tags, and every "<" from the documents is escaped.
        for m in answer:
            assert not re.search(r"<(?!/?(b|i|a)[ >])", m["text"]), m["text"]
        with_buttons = next(m for m in answer if m.get("reply_markup"))
        more = await run.press(CHAT_EN, with_buttons, "Show more")
        assert any("next passage" in m["text"] for m in more)
        assert api.calls_to("answerCallbackQuery"), "the button press was not answered"

        # A near-miss: declined, with the closest section named and one press away (with a caveat).
        (near,) = await run.say(CHAT_EN, "how do I apply for a GPF withdrawal")
        assert "could not find a direct answer" in near["text"] and "📖" not in near["text"]
        assert "The closest section is <b>Pension and Retirement Benefits: The Basics" in near["text"]
        (closest,) = await run.press(CHAT_EN, near, "Open the closest section")
        assert closest["text"].startswith("⚠️ This is the closest section I found.")

        # A command with Rasa's buttons: /language, then the "हिंदी" button switches the replies.
        (choose,) = await run.say(CHAT_EN, "/language")
        assert choose["text"] == "Which language would you like me to reply in?"
        (switched,) = await run.press(CHAT_EN, choose, "हिंदी")
        assert switched["text"] == "ठीक है, अब मैं हिंदी में उत्तर दूँगा।"

        # Hindi: the script of the message switches the reply language.
        (namaste,) = await run.say(CHAT_HI, "नमस्ते")
        assert namaste["text"].startswith("नमस्ते! 🙏 मैं आपका कर्मयोगी पाठ्यक्रम ट्यूटर हूँ।")
        hindi_answer = await run.say(CHAT_HI, "आरटीआई आवेदन का शुल्क कितना है?")
        hindi_text = "\n".join(m["text"] for m in hindi_answer)
        assert "📖 <b>स्रोत:</b>" in hindi_text
        assert re.search(r"[\u0900-\u097F]{3}", hindi_text.split("📖")[0])

        # The two chats are different Rasa conversations under pseudonyms.
        assert str(CHAT_EN) not in "".join(m["text"] for m in run.sent(CHAT_EN))
    finally:
        if process.returncode is None:
            process.send_signal(2)  # SIGINT: python-telegram-bot stops cleanly
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
        await api.stop()
        run.write_transcript(TRANSCRIPT)
    assert process.returncode == 0, stderr.decode()[-3000:]
    assert TOKEN not in stderr.decode()
