"""A quiz poll against the REAL stack: the bridge, the real Rasa server and action server.

Through the fake Bot API a learner asks for a quiz, accepts the privacy notice and gets
the quiz; a multiple-choice question arrives as a quiz poll (Rasa's REST channel delivers
the question and its ``quiz_poll`` payload as two messages, which the bridge pairs), and
the vote is scored and stored in the learner store like a button press.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import tg_harness
from fake_bot_api import FakeBotApi
from tg_harness import Harness

from bot.channels.telegram_bridge import BRIDGE_KEY

pytestmark = pytest.mark.integration

CHAT = 3003


def _buttons(params: dict[str, Any]) -> dict[str, str]:
    rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {row[0]["text"]: row[0]["callback_data"] for row in rows}


def _attempts(stack: Any, sender: str) -> list[tuple[str, bool]]:
    with sqlite3.connect(stack.state_dir / "learners.db") as db:
        rows = db.execute(
            "SELECT a.item_id, a.correct FROM attempts a JOIN learners l ON l.id = a.learner_id "
            "WHERE l.external_id = ? ORDER BY a.id", (sender,)).fetchall()
    return [(str(item), bool(correct)) for item, correct in rows]


def test_a_vote_on_a_quiz_poll_is_scored_by_the_real_stack(
    stack: Any, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.env = {"RASA_URL": f"http://127.0.0.1:{stack.rasa_port}", "RASA_TIMEOUT": "60"}
    monkeypatch.setattr(tg_harness, "SCENARIO_TIMEOUT_S", 240)

    async def scenario(h: Harness) -> None:
        update = iter(range(1, 100))

        def sent() -> list[dict[str, Any]]:
            return [c.params for c in h.tg.calls_to("sendMessage") if int(c.params["chat_id"]) == CHAT]

        async with h.bridge() as app:
            store = app.bot_data[BRIDGE_KEY].store
            sender = app.bot_data[BRIDGE_KEY].sender_id(CHAT)
            h.tg.push_update(FakeBotApi.message_update(next(update), CHAT, "/quiz"))
            await h.until(lambda: any("I agree" in _buttons(m) for m in sent()), timeout=60)
            notice = next(m for m in sent() if "I agree" in _buttons(m))
            h.tg.push_update(FakeBotApi.callback_update(next(update), CHAT, _buttons(notice)["I agree"]))
            # The quiz asked for starts; skip questions until one comes as a poll.
            for _ in range(5):
                await h.until(lambda: h.tg.poll_ids(CHAT) or (sent() and "Skip" in _buttons(sent()[-1])),
                              timeout=60)
                if h.tg.poll_ids(CHAT):
                    break
                before = len(sent())
                h.tg.push_update(FakeBotApi.callback_update(next(update), CHAT, _buttons(sent()[-1])["Skip"]))
                await h.until(lambda n=before: len(sent()) > n or len(h.tg.poll_ids(CHAT)) > 0, timeout=60)
            (poll_id,) = h.tg.poll_ids(CHAT)[:1]
            params = h.tg.sent_polls(CHAT)[0].params
            assert params["type"] == "quiz" and params["is_anonymous"] is False
            assert set(_buttons(params)) == {"Skip", "Stop quiz"}
            item = store.get_poll(poll_id).item_id
            (right,) = params["correct_option_ids"]
            before = len(sent())
            h.tg.push_update(FakeBotApi.poll_answer_update(next(update), poll_id, CHAT, [right]))
            await h.until(lambda: (item, True) in _attempts(stack, sender), timeout=60)
            await h.until(lambda: len(sent()) > before or len(h.tg.poll_ids(CHAT)) > 1, timeout=60)
        answered = [m for _, m, _ in h.rasa.received]
        assert answered == []  # the stand-in was never asked: the real Rasa answered everything

    harness.run(scenario)
