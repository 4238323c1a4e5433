"""The Telegram bridge's durable outbox: the real bridge against the fake Bot API answering 429s.

Telegram's ``retry_after`` is whole seconds (at least 1), so these scenarios take a few
seconds each: python-telegram-bot's ``AIORateLimiter`` retries three times in-process
(one ``retry_after`` each) before the outbox takes over.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import aiohttp
import pytest
from fake_bot_api import FakeBotApi
from sqlalchemy.exc import SQLAlchemyError
from tg_harness import ACTION_TOKEN, Harness

from bot.channels.bridge_state import BridgeState
from bot.channels.outbox import Outbox, OutgoingMessage
from bot.channels.telegram_bridge import BRIDGE_KEY
from bot.i18n import t

CHAT_A = 1001
CHAT_B = 2002
msg = FakeBotApi.message_update
SECRET_TEXT = "my confidential question about case 4711"
APOLOGY = t("telegram_apology")


def pending(app, chat_id: int | None = None) -> int:
    """Messages the running bridge has queued (a bridge without an outbox keeps none)."""
    outbox = getattr(app.bot_data[BRIDGE_KEY].state, "outbox", None)
    return 0 if outbox is None else outbox.pending(chat_id)


def test_a_reply_outlives_more_429s_than_the_rate_limiter_retries(harness: Harness, caplog) -> None:
    caplog.set_level(logging.INFO)

    async def scenario(h: Harness) -> None:
        # Four 429s in a row used to exhaust AIORateLimiter(max_retries=3): the reply was dropped.
        h.tg.fail_times("sendMessage", 6, retry_after=1)
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, SECRET_TEXT))
            await h.until(lambda: h.tg.sent_texts(CHAT_A), timeout=15)
            await h.until(lambda: pending(app) == 0)  # removed once Telegram answered
        attempts = h.tg.calls_to("sendMessage", ok_only=False)
        assert [a.status for a in attempts] == [429] * 6 + [200]
        # Each retry waited at least the retry_after Telegram gave.
        assert all(b.at - a.at >= 0.95 for a, b in zip(attempts, attempts[1:], strict=False))
        assert h.tg.sent_texts(CHAT_A) == [f"You said: {SECRET_TEXT}"]
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "429 retry_after=1s" in logged  # the reason is logged ...
        assert "confidential" not in logged  # ... never the message

    harness.run(scenario)


def test_replies_stay_in_order_per_chat_while_other_chats_flow(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        h.tg.fail_times("sendMessage", 5, retry_after=1, chat_id=CHAT_A)
        async with h.bridge() as app:
            for update_id, (chat, text) in enumerate(
                [(CHAT_A, "a1"), (CHAT_A, "a2"), (CHAT_B, "b1"), (CHAT_A, "a3")], start=1
            ):
                h.tg.push_update(msg(update_id, chat, text))
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 3, timeout=15)
            await h.until(lambda: pending(app) == 0)  # removed once Telegram answered
        assert h.tg.sent_texts(CHAT_A) == ["You said: a1", "You said: a2", "You said: a3"]
        # Chat B was not held up behind chat A's backlog.
        assert h.tg.sent_texts().index("You said: b1") < h.tg.sent_texts().index("You said: a1")

    harness.run(scenario)


def test_a_restart_mid_outbox_loses_nothing_and_keeps_the_order(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        h.tg.fail_times("sendMessage", None, retry_after=1, chat_id=CHAT_A)
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, "a1"))
            h.tg.push_update(msg(2, CHAT_A, "a2"))
            await h.until(lambda: pending(app, CHAT_A) == 2 and len(h.rasa.received) == 2, timeout=10)
        # The bridge is gone; its replies are on disk.
        db = sqlite3.connect(h.state_dir / "telegram.db")
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE chat_id = ?", (CHAT_A,)).fetchone()[0] == 2
        db.close()
        assert h.tg.sent_texts(CHAT_A) == []
        h.tg.stop_failing("sendMessage")
        async with h.bridge() as app:
            h.tg.push_update(msg(3, CHAT_A, "a3"))  # a new message queues behind the old ones
            await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 3, timeout=10)
            await h.until(lambda: pending(app) == 0)  # removed once Telegram answered
        assert h.tg.sent_texts(CHAT_A) == ["You said: a1", "You said: a2", "You said: a3"]
        assert h.rasa.messages() == ["a1", "a2", "a3"]  # nothing was asked twice

    harness.run(scenario)


def test_an_undeliverable_reply_expires_with_its_reason_logged(harness: Harness, caplog) -> None:
    caplog.set_level(logging.INFO)
    harness.env = {"TELEGRAM_OUTBOX_EXPIRY_HOURS": str(2 / 3600)}  # 2 s

    async def scenario(h: Harness) -> None:
        h.tg.fail_times("sendMessage", None, retry_after=1, chat_id=CHAT_A)
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, SECRET_TEXT))
            await h.until(lambda: any("expired undelivered" in r.getMessage() for r in caplog.records), timeout=10)
            assert pending(app) == 0  # dropped, not kept forever
            h.tg.stop_failing("sendMessage")
            h.tg.push_update(msg(2, CHAT_A, "still there?"))  # the chat is not stuck behind it
            await h.until(lambda: h.tg.sent_texts(CHAT_A), timeout=5)
        assert h.tg.sent_texts(CHAT_A) == ["You said: still there?"]
        expired = [r.getMessage() for r in caplog.records if "expired undelivered" in r.getMessage()]
        assert len(expired) == 1 and "429 retry_after=1s" in expired[0]
        assert all("confidential" not in record.getMessage() for record in caplog.records)
        assert APOLOGY not in h.tg.sent_texts()

    harness.run(scenario)


def test_proactive_messages_queue_behind_a_backlog_and_a_block_empties_the_queue(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge() as app:
            h.tg.push_update(msg(1, CHAT_A, "hi"))  # the bridge learns the chat's pseudonym
            await h.until(lambda: h.tg.sent_texts(CHAT_A))
            sender = h.rasa.received[0][0]
            url = f"http://127.0.0.1:{app.bot_data[BRIDGE_KEY].proactive.port}/proactive"
            auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
            h.tg.fail_times("sendMessage", 4, retry_after=1, chat_id=CHAT_A)
            h.tg.push_update(msg(2, CHAT_A, "a2"))
            await h.until(lambda: pending(app, CHAT_A) == 1, timeout=10)  # a2's reply waits for its retry
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json={"sender": sender, "text": "Review due"}, headers=auth) as response:
                    assert response.status == 200  # accepted: it is queued, behind the reply
                    assert (await response.json())["message_ids"] == []
                await h.until(lambda: len(h.tg.sent_texts(CHAT_A)) == 3, timeout=10)
                assert h.tg.sent_texts(CHAT_A)[1:] == ["You said: a2", "Review due"]

                h.tg.block(CHAT_A)
                async with session.post(url, json={"sender": sender, "text": "Another"}, headers=auth) as response:
                    assert response.status == 410  # the learner blocked the bot
            assert pending(app, CHAT_A) == 0  # nothing left retrying for a chat that refuses us

    harness.run(scenario)


# ---------------------------------------------------------------- the table itself


def test_outbox_keeps_order_per_chat_survives_reopening_and_schedules_retries(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "telegram.db"
    state = BridgeState(path)
    outbox = Outbox(state.engine, expiry_s=60, clock=lambda: now[0])
    outbox.add(CHAT_A, [OutgoingMessage("a1", "HTML"), OutgoingMessage("a2")])
    outbox.add(CHAT_B, [OutgoingMessage("b1")])
    outbox.add(CHAT_A, [OutgoingMessage("a3")])
    head = outbox.head(CHAT_A)
    assert head is not None and head.message.text == "a1" and head.message.parse_mode == "HTML"
    assert outbox.due_chats() == [CHAT_A, CHAT_B]
    outbox.postpone(head.id, 5, "429 retry_after=5s")
    assert outbox.due_chats() == [CHAT_B]  # a2 and a3 wait behind a1
    outbox.remove(outbox.head(CHAT_B).id)
    assert outbox.next_due_in() == pytest.approx(5)
    state.close()

    reopened = Outbox(BridgeState(path).engine, expiry_s=60, clock=lambda: now[0])
    assert reopened.pending() == 3
    head = reopened.head(CHAT_A)
    assert (head.message.text, head.attempts, head.last_error) == ("a1", 1, "429 retry_after=5s")
    now[0] += 5
    assert reopened.due_chats() == [CHAT_A]
    texts = []
    while (item := reopened.head(CHAT_A)) is not None:
        texts.append(item.message.text)
        reopened.remove(item.id)
    assert texts == ["a1", "a2", "a3"]
    assert reopened.next_due_in() is None


def test_a_reply_is_queued_whole_or_not_at_all(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "telegram.db")

    unstorable = OutgoingMessage(object())  # type: ignore[arg-type]  # fails as the second piece is written
    with pytest.raises(SQLAlchemyError):
        state.outbox.add(CHAT_A, [OutgoingMessage("first piece"), unstorable])
    assert state.outbox.pending() == 0


def test_erasing_a_learner_drops_what_still_waits_for_their_chat(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "telegram.db")
    state.remember_chat("tg-erased", CHAT_A)
    state.remember_chat("tg-other", CHAT_B)
    state.outbox.add(CHAT_A, [OutgoingMessage("your question about your pension was: ...")])
    state.outbox.add(CHAT_B, [OutgoingMessage("someone else's reply")])

    assert state.forget_chat("tg-erased") is True
    assert state.chat_for("tg-erased") is None
    assert state.outbox.pending(CHAT_A) == 0  # the learner's queued words are gone too
    assert state.outbox.pending(CHAT_B) == 1  # nobody else's
    assert state.forget_chat("tg-erased") is False
