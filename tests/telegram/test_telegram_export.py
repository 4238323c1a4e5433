""""Export my data" reaches a Telegram learner as a file (real bridge, fake Bot API on loopback)."""

from __future__ import annotations

import json

from fake_bot_api import FakeBotApi
from rasa_stand_in import EXPORT_JSON
from tg_harness import Harness

from bot.channels.telegram_format import document_of

CHAT = 3003


def test_the_export_arrives_as_a_json_document_after_the_summary(harness: Harness) -> None:
    async def scenario(h: Harness) -> None:
        async with h.bridge():
            h.tg.push_update(FakeBotApi.message_update(1, CHAT, "export please"))
            await h.until(lambda: bool(h.tg.calls_to("sendDocument")))
        assert h.tg.sent_texts(CHAT)[0].startswith("Here is all the data I hold about you")
        ((name, content),) = h.tg.sent_documents(CHAT)
        assert name == "my-tutor-data-2026-12-06.json"
        assert json.loads(content.decode("utf-8")) == json.loads(EXPORT_JSON)  # Hindi text intact
        methods = [c.method for c in h.tg.calls if c.method in ("sendMessage", "sendDocument")]
        assert methods == ["sendMessage", "sendDocument"]  # in the order Rasa sent them

    harness.run(scenario)


def test_only_file_payloads_become_documents_and_names_are_made_safe() -> None:
    assert document_of({"text": "hello"}) is None
    assert document_of({"custom": {"data": {"type": "card", "content": "x"}}}) is None
    assert document_of({"custom": {"export": {"a": 1}}}) is None
    name, content = document_of({"custom": {"data": {"type": "file", "name": "../../etc/pass wd.json",
                                                      "content": "{}"}}})
    assert "/" not in name and " " not in name and name.endswith(".json") and content == b"{}"
