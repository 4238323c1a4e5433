"""The Telegram bridge names a chat to Rasa with the shared pseudonym recipe (bot.pseudonyms)."""

from __future__ import annotations

from fake_bot_api import FakeBotApi
from tg_harness import Harness

from bot.pseudonyms import pseudonym, telegram_sender

CHAT = 3003


def test_the_bridge_sends_the_shared_pseudonym_of_the_chat(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(FakeBotApi.message_update(1, CHAT, "hi"))
            await h.until(lambda: h.rasa.received)
        assert h.settings is not None
        expected = telegram_sender(CHAT, h.settings.pseudonym_salt)
        assert [sender for sender, _, _ in h.rasa.received] == [expected]
        assert expected == "tg-" + pseudonym("telegram", str(CHAT), h.settings.pseudonym_salt)
        assert str(CHAT) not in expected

    harness.run(scenario)
