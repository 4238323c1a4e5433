"""Trainers edit the folder while learners are asking: answers follow, nothing fails.

A background thread keeps asking over the REST channel while a document is dropped
in, edited, renamed and deleted. Every reply must be a real reply (non-empty, no
apology); answers must follow each change, and deleted content must stop being cited.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from bot.knowledge.index import current_version_dir, read_meta

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "What is the registration fee for the Karmayogi chess tournament?"
APOLOGIES = ("Sorry, the course material is being prepared", "Sorry, I did not get that")


def ask(stack, message: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": f"live-{uuid.uuid4().hex[:8]}", "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return "\n".join(r.get("text", "") for r in json.loads(response.read()))


def chess_doc(fee: str) -> str:
    return ("---\ntitle: \"Karmayogi chess tournament\"\nlanguage: en\n---\n# Karmayogi chess tournament\n\n"
            "## 1. Registration\nThe registration fee for the Karmayogi chess tournament is "
            f"{fee} rupees per officer, paid to the sports officer of the department.\n")


class Asker(threading.Thread):
    """Asks the question in a loop; records every reply."""

    def __init__(self, stack) -> None:
        super().__init__(daemon=True)
        self.stack, self.replies, self.errors = stack, [], []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.replies.append(ask(self.stack, QUESTION))
            except Exception as exc:  # a failed request is a failure of the swap
                self.errors.append(repr(exc))
            time.sleep(0.2)


def wait_for(check, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return False


def indexed(stack, source: str) -> bool:
    live = current_version_dir(Path(stack.kb_dir).parent / "index")
    return live is not None and source in read_meta(live)["documents"]


def test_drop_edit_rename_delete_while_answering(stack) -> None:
    modules = Path(stack.kb_dir) / "modules"
    first, renamed = modules / "chess-tournament.md", modules / "sports" / "chess.md"
    asker = Asker(stack)
    asker.start()
    try:
        time.sleep(2)
        first.write_text(chess_doc("250"), encoding="utf-8")  # drop
        assert wait_for(lambda: "250 rupees" in ask(stack, QUESTION)), "new document not answered"
        first.write_text(chess_doc("375"), encoding="utf-8")  # edit
        assert wait_for(lambda: "375 rupees" in ask(stack, QUESTION)), "edit not answered"
        assert "250 rupees" not in ask(stack, QUESTION)
        renamed.parent.mkdir(exist_ok=True)
        first.rename(renamed)  # rename (and move into a sub-folder)
        assert wait_for(lambda: indexed(stack, "modules/sports/chess.md")
                        and not indexed(stack, "modules/chess-tournament.md")), "rename not indexed"
        time.sleep(2)  # the action server checks CURRENT every second
        assert "375 rupees" in ask(stack, QUESTION), "renamed content stopped answering"
        renamed.unlink()  # delete
        assert wait_for(lambda: "375 rupees" not in ask(stack, QUESTION)), "deleted content still cited"
        assert "could not find this in the course material" in ask(stack, QUESTION)
        time.sleep(1)
    finally:
        asker.halt.set()
        asker.join(60)
    assert not asker.errors, asker.errors[:3]
    assert len(asker.replies) >= 5  # it kept asking through the swaps (a reply takes ~1 s here)
    empty = [r for r in asker.replies if not r.strip()]
    apologies = [r for r in asker.replies if any(a in r for a in APOLOGIES)]
    assert not empty and not apologies, (empty[:1], apologies[:1])
    # the background asker saw each state of the document in turn
    joined = "\n".join(asker.replies)
    assert "250 rupees" in joined and "375 rupees" in joined and "could not find" in joined
