"""Data rights end to end on the real stack (Rasa + action server + Telegram bridge against the
fake Bot API + trainer console): delete, export and consent withdrawal during a live handoff
on Telegram.

Uses the human-loop stack fixture (trainers always "at work", so the handoff starts at once).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error

import pytest

from tests.integration import test_human_loop as human_loop
from tests.integration.test_human_loop import PASSWORD, TRAINERS_CHAT, ConsoleClient, wait_for

loop_stack = human_loop.loop_stack  # the human-loop stack fixture, started once for this module

pytestmark = pytest.mark.integration


def _documents_to(tg, chat_id: int) -> list[dict]:
    return [c.params for c in list(tg.api.calls) if c.method == "sendDocument" and c.status == 200
            and int(c.params["chat_id"]) == chat_id]


def _button(message: dict, label: str) -> str:
    keyboard = message["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in keyboard for b in row if label in b["text"])


@pytest.fixture
def logs_on_failure(loop_stack, request):
    """Print the tail of each process log when the test fails (the stack's folder is temporary)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        for log in sorted(loop_stack.log_dir.glob("*.log")):
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def test_export_then_delete_during_a_live_handoff_on_telegram(loop_stack, logs_on_failure) -> None:
    tg = loop_stack.telegram_api
    chat_id = 6161
    tg.send(chat_id, "/trainer")
    wait_for(lambda: [m for m in tg.messages_to(chat_id) if "human trainer is answering" in m["text"]], 60,
             "handoff start")
    notice = wait_for(lambda: [m for m in tg.messages_to(TRAINERS_CHAT) if "live chat" in m["text"]], 30,
                      "trainers' chat notice")
    handoff_id = int(re.search(r"/handoffs/(\d+)", notice[-1]["text"]).group(1))
    tg.send(chat_id, "When will my pension papers be processed?")
    wait_for(lambda: [m for m in tg.messages_to(TRAINERS_CHAT) if "pension papers" in m["text"]], 90, "relay")

    # Export: a JSON document in the chat, with the handoff transcript in it.
    tg.send(chat_id, "export my data")
    documents = wait_for(lambda: _documents_to(tg, chat_id), 60, "the export document")
    exported = json.loads(documents[-1]["document"]["content"].decode("utf-8"))
    assert any("pension papers" in m["text"] for m in exported["human_loop"]["handoff_messages"])

    # Delete: asked to confirm (not relayed to the trainers), then done.
    relayed_before = len(tg.messages_to(TRAINERS_CHAT))
    tg.send(chat_id, "/deletemydata")
    confirm = wait_for(lambda: [m for m in tg.messages_to(chat_id) if "Delete everything?" in m["text"]], 60,
                       "the confirmation question")
    tg.press(chat_id, _button(confirm[-1], "Yes, delete everything"))
    wait_for(lambda: [m for m in tg.messages_to(chat_id) if m["text"].startswith("Done: I have deleted")], 60,
             "the deletion confirmation")
    time.sleep(1)
    assert not [m for m in tg.messages_to(TRAINERS_CHAT)[relayed_before:] if "delete" in m["text"].lower()]

    console = ConsoleClient(f"http://127.0.0.1:{loop_stack.console_port}")
    console.login("asha", PASSWORD)
    with pytest.raises(urllib.error.HTTPError) as gone:
        console.get(f"/handoffs/{handoff_id}")
    assert gone.value.code == 404  # the transcript went with the learner's data


def test_withdrawing_consent_during_a_live_handoff_on_telegram(loop_stack, logs_on_failure) -> None:
    tg = loop_stack.telegram_api
    chat_id = 6262
    tg.send(chat_id, "I agree")  # consent given with one message...
    wait_for(lambda: [m for m in tg.messages_to(chat_id) if m["text"].startswith("Thank you.")], 60, "consent")
    tg.send(chat_id, "/trainer")
    wait_for(lambda: [m for m in tg.messages_to(chat_id) if "human trainer is answering" in m["text"]], 60,
             "handoff start")
    tg.send(chat_id, "Is my leave encashment taxable?")
    wait_for(lambda: [m for m in tg.messages_to(TRAINERS_CHAT) if "leave encashment" in m["text"]], 90, "relay")

    # ...and withdrawn from the menu command: asked to confirm (not relayed), then done.
    relayed_before = len(tg.messages_to(TRAINERS_CHAT))
    tg.send(chat_id, "/withdrawconsent")
    confirm = wait_for(lambda: [m for m in tg.messages_to(chat_id) if "Withdraw your consent" in m["text"]], 60,
                       "the withdrawal question")
    tg.press(chat_id, _button(confirm[-1], "Yes, withdraw and delete"))
    done = wait_for(lambda: [m for m in tg.messages_to(chat_id)
                             if m["text"].startswith("Done: your consent is withdrawn")], 60, "the withdrawal")
    assert "I agree" in done[-1]["text"]
    time.sleep(1)
    assert not [m for m in tg.messages_to(TRAINERS_CHAT)[relayed_before:] if "consent" in m["text"].lower()]

    # Nothing is stored about the learner any more: the export holds no learner record.
    tg.send(chat_id, "export my data")
    documents = wait_for(lambda: _documents_to(tg, chat_id), 60, "the export document")
    exported = json.loads(documents[-1]["document"]["content"].decode("utf-8"))
    assert exported["learner"] == {} and not any(exported["human_loop"].values())
