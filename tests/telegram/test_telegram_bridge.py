"""The real python-telegram-bot bridge against a fake Bot API server and a Rasa stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from fake_bot_api import FakeBotApi
from rasa_stand_in import QUIZ_PAYLOAD
from tg_harness import ACTION_TOKEN, TOKEN, Harness

from bot.channels import telegram_bridge
from bot.channels.rate_limit import ChatRateLimiter
from bot.channels.telegram_bridge import (
    BRIDGE_KEY,
    COMMANDS,
    main,
    webhook_secret,
)
from bot.channels.telegram_format import MAX_CALLBACK_BYTES, MAX_MESSAGE_LENGTH, telegram_length
from bot.config import PROJECT_ROOT
from bot.i18n import t

# The bridge's own notes, in English: the fake Bot API's learners send no language_code.
APOLOGY = t("telegram_apology")
NO_REPLY = t("telegram_no_reply")
NOT_AVAILABLE = t("telegram_not_available")
SLOW_DOWN = t("telegram_slow_down")

CHAT_A = 1001
CHAT_B = 2002
msg = FakeBotApi.message_update


def test_commands_reach_rasa_as_intents_and_menu_is_published(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            for i, command in enumerate(COMMANDS, start=1):
                h.tg.push_update(msg(i, CHAT_A, f"/{command.name}"))
            await h.until(lambda: len(h.rasa.received) == len(COMMANDS))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == len(COMMANDS))
        assert h.rasa.messages() == [c.intent for c in COMMANDS]
        assert h.rasa.messages()[:2] == ["/greet", "/help"]
        # The sender is a pseudonym, stable per chat, and not the chat id.
        senders = {sender for sender, _, _ in h.rasa.received}
        assert len(senders) == 1
        (sender,) = senders
        assert sender.startswith("tg-") and str(CHAT_A) not in sender
        menu = [c for c in h.tg.calls_to("setMyCommands") if not c.params.get("language_code")]
        assert len(menu) == 1  # the default menu; per-language ones: test_quiz_polls.py
        assert [c["command"] for c in menu[0].params["commands"]] == [c.name for c in COMMANDS]
        assert h.tg.calls_to("sendChatAction")[0].params["action"] == "typing"
        greeting = h.tg.calls_to("sendMessage")[0].params
        assert greeting["text"] == "Namaste! I am your <b>course tutor</b>."
        assert greeting["parse_mode"] == "HTML"

    harness.run(scenario)


def test_reply_is_escaped_html(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "html please"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
        assert h.tg.sent_texts(CHAT_A) == ["&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"]

    harness.run(scenario)


def test_buttons_become_inline_keyboard_and_a_press_reaches_rasa(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "quiz please"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
            markup = h.tg.calls_to("sendMessage")[0].params["reply_markup"]
            buttons = [row[0] for row in markup["inline_keyboard"]]
            assert [b["text"] for b in buttons] == ["A) 15 days", "B) 30 days", "Show more"]
            assert all(len(b["callback_data"].encode()) <= MAX_CALLBACK_BYTES for b in buttons)
            assert len(QUIZ_PAYLOAD.encode()) > MAX_CALLBACK_BYTES  # so a key was needed
            assert buttons[2]["callback_data"] == "/show_more"  # short payloads travel as-is

            h.tg.push_update(FakeBotApi.callback_update(2, CHAT_A, buttons[1]["callback_data"]))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 2)
            answered = h.tg.calls_to("answerCallbackQuery")
            assert [c.params["callback_query_id"] for c in answered] == ["cq-2"]
            # The keyboard is retired so the same answer cannot be sent twice.
            assert len(h.tg.calls_to("editMessageReplyMarkup")) == 1
        assert h.rasa.messages() == ["quiz please", QUIZ_PAYLOAD]

    harness.run(scenario)


def test_expired_button_is_answered_and_not_sent(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(FakeBotApi.callback_update(1, CHAT_A, "#k:000000000000000000000000"))
            await h.until(lambda: h.tg.calls_to("answerCallbackQuery"))
            assert h.tg.calls_to("answerCallbackQuery")[0].params["text"].startswith("This button")
        assert h.rasa.received == []

    harness.run(scenario)


def test_duplicate_update_is_processed_once_even_after_restart(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(10, CHAT_A, "first"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
        # Telegram redelivers update 10 (the bot "died" before confirming it), then 11.
        h.tg.push_update(msg(10, CHAT_A, "first"))
        h.tg.push_update(msg(11, CHAT_A, "second"))
        async with h.bridge():
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) >= 2)
            await asyncio.sleep(0.2)  # room for a wrongly processed duplicate to show up
        assert h.rasa.messages() == ["first", "second"]
        assert h.tg.sent_texts(CHAT_A) == ["You said: first", "You said: second"]

    harness.run(scenario)


def test_per_chat_order_with_chats_in_parallel(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        # Earlier messages are slower: without per-chat ordering the replies would swap.
        h.rasa.delays = {"a1": 0.6, "a2": 0.05, "a3": 0.0, "b1": 0.3, "b2": 0.0}
        async with h.bridge():
            for update_id, (chat, text) in enumerate(
                [(CHAT_A, "a1"), (CHAT_B, "b1"), (CHAT_A, "a2"), (CHAT_B, "b2"), (CHAT_A, "a3")],
                start=100,
            ):
                h.tg.push_update(msg(update_id, chat, text))
            await h.until(lambda: len(h.tg.sent_texts()) == 5)
        assert h.tg.sent_texts(CHAT_A) == ["You said: a1", "You said: a2", "You said: a3"]
        assert h.tg.sent_texts(CHAT_B) == ["You said: b1", "You said: b2"]
        order = h.rasa.messages()
        assert order.index("a1") < order.index("a2") < order.index("a3")
        assert order.index("b1") < order.index("b2")
        # Chats ran concurrently: chat B finished while chat A's first message was waiting.
        assert h.tg.sent_texts().index("You said: b2") < h.tg.sent_texts().index("You said: a1")

    harness.run(scenario)


def test_429_retry_after_is_honoured(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.fail_once("sendMessage", retry_after=1)
            h.tg.push_update(msg(1, CHAT_A, "hello"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A), timeout=6)
        attempts = h.tg.calls_to("sendMessage", ok_only=False)
        assert [a.status for a in attempts] == [429, 200]
        assert attempts[1].at - attempts[0].at >= 1.0
        assert h.tg.sent_texts(CHAT_A) == ["You said: hello"]

    harness.run(scenario)


def test_rasa_down_gets_an_apology(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.rasa.available = False  # 503
            h.tg.push_update(msg(1, CHAT_A, "hello"))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 1)
            await h.rasa.stop()  # connection refused
            h.tg.push_update(msg(2, CHAT_A, "anyone there?"))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 2)
        assert h.tg.sent_texts(CHAT_A) == [APOLOGY, APOLOGY]

    harness.run(scenario)


def test_long_reply_is_split_under_the_limit(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "long please"))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) >= 4)
            await asyncio.sleep(0.1)
        texts = h.tg.sent_texts(CHAT_A)
        assert len(texts) >= 4
        assert all(telegram_length(t) <= MAX_MESSAGE_LENGTH for t in texts)
        # Nothing lost: every paragraph's bold citation arrived intact, in order.
        assert sum(t.count("<b>Section 7</b>") for t in texts) == 12 * 8
        assert all(t.count("<b>") == t.count("</b>") for t in texts)

    harness.run(scenario)


def test_webhook_requires_the_secret_token(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        assert h.settings is not None
        secret = webhook_secret(h.settings)
        async with h.bridge(webhook=True):
            set_webhook = h.tg.calls_to("setWebhook")
            assert set_webhook[0].params["secret_token"] == secret
            url = f"http://127.0.0.1:{h.webhook_port}/telegram"
            async with aiohttp.ClientSession() as session:

                async def post(update: dict[str, object], token: str | None) -> int:
                    headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
                    async with session.post(url, json=update, headers=headers) as response:
                        return response.status

                assert await post(msg(1, CHAT_A, "no secret"), None) == 403
                assert await post(msg(2, CHAT_A, "wrong secret"), "wrong") == 403
                assert await post(msg(3, CHAT_A, "right secret"), secret) == 200
                # Telegram retrying the same delivery is processed once.
                assert await post(msg(3, CHAT_A, "right secret"), secret) == 200
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
            await asyncio.sleep(0.2)
        assert h.rasa.messages() == ["right secret"]
        assert h.tg.sent_texts(CHAT_A) == ["You said: right secret"]

    harness.run(scenario)


def test_proactive_endpoint_needs_the_token_and_delivers(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, "hi"))  # the bridge learns the chat's pseudonym
            await h.until(lambda: h.rasa.received)
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
            sender = h.rasa.received[0][0]
            port = app.bot_data[BRIDGE_KEY].proactive.port
            url = f"http://127.0.0.1:{port}/proactive"
            body = {
                "sender": sender,
                "text": "**Review due:** RTI time limits",
                "buttons": [{"title": "Start review", "payload": "/review"}],
            }
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=body) as response:
                    assert response.status == 401
                bad = {"Authorization": "Bearer nope"}
                async with session.post(url, json=body, headers=bad) as response:
                    assert response.status == 401
                assert len(h.tg.sent_texts(CHAT_A)) == 1  # refused calls sent nothing
                good = {"Authorization": f"Bearer {ACTION_TOKEN}"}
                unknown = {**body, "sender": "tg-unknown"}
                async with session.post(url, json=unknown, headers=good) as response:
                    assert response.status == 404
                async with session.post(url, data=json.dumps(body), headers=good) as response:
                    assert response.status == 200
                    assert len((await response.json())["message_ids"]) == 1
        last = h.tg.calls_to("sendMessage")[-1].params
        assert last["text"] == "<b>Review due:</b> RTI time limits"
        assert int(last["chat_id"]) == CHAT_A
        assert last["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/review"

    harness.run(scenario)


def test_a_message_left_in_the_shared_store_is_sent_by_the_bridge(harness: Harness) -> None:
    """The cluster path: the worker or console writes to the bridges' store, a bridge sends it."""
    from bot.handoff.delivery import QueuedTelegramProactive

    async def scenario(h: Harness) -> None:
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, "hi"))  # the bridge learns the chat's pseudonym
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
            sender = h.rasa.received[0][0]
            assert h.settings is not None
            worker = QueuedTelegramProactive(h.settings.telegram_store_url)
            assert not await asyncio.to_thread(worker.push, "tg-unknown", "nobody")
            assert await asyncio.to_thread(worker.push, sender, "**Review due:** RTI time limits",
                                           [{"title": "Start review", "payload": "/review"}])
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 2)
            await asyncio.sleep(1.5)  # a later pass sends nothing twice
            assert await asyncio.to_thread(app.bot_data[BRIDGE_KEY].queue.take) == []
        assert len(h.tg.sent_texts(CHAT_A)) == 2
        last = h.tg.calls_to("sendMessage")[-1].params
        assert last["text"] == "<b>Review due:</b> RTI time limits"
        assert last["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/review"

    harness.run(scenario)


def test_unknown_command_and_non_text_get_a_local_answer(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/frobnicate"))
            sticker = msg(2, CHAT_A, "x")
            del sticker["message"]["text"]
            sticker["message"]["sticker"] = {
                "file_id": "f",
                "file_unique_id": "u",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
            h.tg.push_update(sticker)
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 2)
        assert "/help" in h.tg.sent_texts(CHAT_A)[0]
        assert "text" in h.tg.sent_texts(CHAT_A)[1]
        assert h.rasa.received == []

    harness.run(scenario)


def test_a_flooding_chat_is_told_to_slow_down_and_rasa_is_spared(harness: Harness) -> None:
    harness.env = {"TELEGRAM_RATE_BURST": "4", "TELEGRAM_RATE_PER_MIN": "6"}  # 4 at once, then 1 per 10 s

    async def scenario(h: Harness) -> None:
        async with h.bridge():
            for i in range(1, 21):
                h.tg.push_update(msg(i, CHAT_A, f"flood {i}"))
            h.tg.push_update(msg(100, CHAT_B, "a calm learner"))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) >= 5 and h.tg.sent_texts(CHAT_B))
            await asyncio.sleep(0.5)  # room for wrongly forwarded or extra notes to show up
        flooded = [m for m in h.rasa.messages() if m.startswith("flood")]
        assert flooded == ["flood 1", "flood 2", "flood 3", "flood 4"]  # the burst, in order
        texts = h.tg.sent_texts(CHAT_A)
        assert texts.count(SLOW_DOWN) == 1  # one note per episode, not one per dropped message
        assert texts[:4] == [f"You said: flood {i}" for i in range(1, 5)] and texts[4] == SLOW_DOWN
        # Other chats have their own budget.
        assert h.tg.sent_texts(CHAT_B) == ["You said: a calm learner"]

    harness.run(scenario)


def test_chat_rate_limiter_refills_and_warns_once_per_episode() -> None:
    now = [0.0]
    limiter = ChatRateLimiter(burst=2, per_s=0.5, max_chats=2, clock=lambda: now[0])
    assert [limiter.check(1) for _ in range(4)] == [(True, False), (True, False), (False, True), (False, False)]
    now[0] = 2.0  # one message refilled
    assert limiter.check(1) == (True, False)
    assert limiter.check(1) == (False, True)  # a new episode warns again
    limiter.check(2)
    limiter.check(3)  # chat 1 is forgotten (least recently used) and starts full
    assert limiter.check(1) == (True, False)


def test_an_empty_rasa_reply_gets_a_note_not_silence(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/progress"))  # stand-in: no reply for unknown intents
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
        assert h.rasa.messages() == ["/show_progress"]
        assert h.tg.sent_texts(CHAT_A) == [NO_REPLY]

    harness.run(scenario)


def test_a_command_whose_intent_the_domain_lacks_is_answered_locally(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("version: '3.1'\nintents:\n  - greet\n  - choose_language:\n      use_entities: [language]\n")
    monkeypatch.setattr(telegram_bridge, "DOMAIN_PATH", domain)

    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/plan"))  # show_plan: not built in this "model"
            h.tg.push_update(msg(2, CHAT_A, "/start"))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 2)
        assert h.rasa.messages() == ["/greet"]  # Rasa never saw the unknown intent
        assert h.tg.sent_texts(CHAT_A)[0] == NOT_AVAILABLE

    harness.run(scenario)


def test_the_bridges_own_notes_follow_the_learners_app_language(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("version: '3.1'\nintents:\n  - greet\n")
    monkeypatch.setattr(telegram_bridge, "DOMAIN_PATH", domain)

    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(msg(1, CHAT_A, "/plan", language_code="hi"))
            h.tg.push_update(msg(2, CHAT_B, "/plan", language_code="pt-br"))  # not an interface language
            await h.until(lambda: h.tg.sent_texts(CHAT_A) and h.tg.sent_texts(CHAT_B))
        assert h.tg.sent_texts(CHAT_A) == [t("telegram_not_available", "hi")]
        assert h.tg.sent_texts(CHAT_B) == [NOT_AVAILABLE]
        assert t("telegram_not_available", "hi") != NOT_AVAILABLE

    harness.run(scenario)


def test_domain_intents_reads_plain_and_configured_intents(tmp_path: Path) -> None:
    domain = tmp_path / "domain"
    domain.mkdir()
    (domain / "a.yml").write_text("intents:\n  - greet\n  - quiz_me:\n      use_entities: [quiz_topic]\n")
    (domain / "b.yml").write_text("responses: {}\n")
    assert telegram_bridge.domain_intents(domain) == {"greet", "quiz_me"}
    (domain / "c.yml").write_text("intents: [unclosed\n")
    assert telegram_bridge.domain_intents(domain) is None  # unreadable: send everything to Rasa
    # The project's own domain knows every command's intent (the features exist).
    known = telegram_bridge.domain_intents()
    assert known is not None and {c.intent.lstrip("/") for c in COMMANDS} <= known


def test_main_without_token_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    assert main([]) == 2


def test_module_runs_as_a_process_and_stops_cleanly_on_sigint(harness: Harness) -> None:
    """``python -m bot.channels.telegram_bridge`` end to end: run_polling, post_init, SIGINT."""

    async def scenario(h: Harness) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.channels.telegram_bridge",
            env=env,
            cwd=str(PROJECT_ROOT),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await h.until(lambda: h.tg.calls_to("setMyCommands"), timeout=10)
            h.tg.push_update(msg(1, CHAT_A, "from a real process"))
            await h.until(lambda: h.tg.sent_texts(CHAT_A), timeout=5)
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert h.tg.sent_texts(CHAT_A) == ["You said: from a real process"]
        assert TOKEN not in stderr.decode()  # httpx request logging would leak the token

    harness.run(scenario)
