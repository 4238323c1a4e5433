"""Index distribution in scaled mode: trainers' edits reach every action replica.

One indexer process is the only writer of the index folder; both action servers run
``--no-watch`` and follow its ``CURRENT`` pointer. Each replica is asked directly on its own
port (as Rasa would call it, with the token), so the test proves that *both* serve the new
version, within seconds and without a restart: a trainer's edit of a document, and an FAQ
answer written from the trainer console.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import httpx
import pytest

pytestmark = [pytest.mark.scaled, pytest.mark.slow]

#: The issue's bound: an edit is answered from by every replica within 10 s.
DEADLINE_S = 10.0


def ask_replica(stack, port: int, question: str) -> tuple[str, list[str]]:
    """``action_answer_question`` on one action server: (reply text, cited sources)."""
    tracker = {"sender_id": f"index-{uuid.uuid4().hex[:8]}", "slots": {"language": "en"},
               "latest_message": {"text": question, "intent": {"name": "ask_question", "confidence": 1.0},
                                  "entities": []},
               "events": [], "paused": False, "followup_action": None, "active_loop": {},
               "latest_action_name": "action_listen", "latest_input_channel": "rest"}
    resp = httpx.post(f"http://127.0.0.1:{port}/webhook", timeout=30,
                      headers={"Authorization": f"Bearer {stack.env['ACTION_SERVER_TOKEN']}"},
                      json={"next_action": "action_answer_question", "sender_id": tracker["sender_id"],
                            "tracker": tracker, "domain": {"slots": {}, "responses": {}}, "version": "3.6.21"})
    assert resp.status_code == 200, resp.text[:300]
    body = resp.json()
    text = " ".join(r.get("text") or "" for r in body["responses"])
    sources = next((e["value"] for e in body["events"] if e.get("event") == "slot" and e["name"] == "last_sources"), [])
    return text, sources or []


def served_by_every_replica(stack, question: str, marker: str, source: str, since: float) -> dict[int, float]:
    """Ask every replica until each answers with ``marker`` from ``source``.

    Returns:
        Seconds from ``since`` (the edit, ``time.monotonic()``) to each port's first such answer.
    """
    start, done = since, {}
    last: dict[int, tuple[str, list[str]]] = {}
    while len(done) < len(stack.ports.action) and time.monotonic() - start < DEADLINE_S:
        for port in stack.ports.action:
            if port not in done:
                last[port] = ask_replica(stack, port, question)
                if marker in last[port][0] and last[port][1] == [source]:
                    done[port] = time.monotonic() - start
        time.sleep(0.2)
    assert len(done) == len(stack.ports.action), (done, last)
    return done


def test_a_trainers_edit_is_served_by_both_action_replicas_within_seconds(scaled_stack):
    s = scaled_stack
    kb_dir = s.root / "knowledge_base"
    document = kb_dir / "modules" / "leave-basics.md"
    question = "What is the hill cycling allowance for a probationer on field training in a hill district?"
    for port in s.ports.action:  # not in the material yet: no replica knows it
        assert "7,345" not in ask_replica(s, port, question)[0]
    edited = time.monotonic()
    document.write_text(document.read_text(encoding="utf-8") + (
        "\n## Hill cycling allowance\n\n"
        "A probationer on field training in a hill district is paid a **hill cycling allowance of "
        "Rs 7,345 a month** for the months of the attachment, sanctioned by the training coordinator.\n"),
        encoding="utf-8")
    seconds = served_by_every_replica(s, question, "7,345", "modules/leave-basics.md", edited)
    print(f"edit served by each replica after {seconds} s")
    # No replica was restarted to get there.
    assert all(p.poll() is None for name, p in s.processes.items() if name.startswith("action-"))
    assert "index reloaded" in (s.log_dir / "action-1.log").read_text(errors="replace")
    assert "index reloaded" in (s.log_dir / "action-2.log").read_text(errors="replace")


def _admin(stack, *args: str, stdin: str = "") -> str:
    """``tutor-admin`` (bot.console.cli) against the stack's learner store."""
    from bot.scaled.stack import PYTHON

    done = subprocess.run([PYTHON, "-m", "bot.console.cli", *args], env=stack.environment(), input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_console_faq_answer_is_served_by_both_action_replicas_within_seconds(scaled_stack):
    s = scaled_stack
    asked = "How many guest rooms can a trainee book at the Nainital training hostel?"
    text, sources = ask_replica(s, s.ports.action[0], asked)
    assert not sources and "HG-77" not in text  # declined: the question goes to the trainers' queue
    items = json.loads(_admin(s, "queue", "--json", "--search", "Nainital"))
    assert items, "the declined question is not in the trainers' queue"
    item = items[0]["id"]
    password = uuid.uuid4().hex
    _admin(s, "add-trainer", "meera", "--password-stdin", stdin=password + "\n")
    # The trainer answers in the console, as in a browser: login, then the item's answer form.
    console = f"http://127.0.0.1:{s.ports.console}"
    with httpx.Client(base_url=console, timeout=30, follow_redirects=True) as browser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text).group(1)
        login = browser.post("/login?next=/queue", data={"csrf": csrf, "username": "meera", "password": password})
        assert login.status_code == 200 and "meera" in login.text, login.text[:300]
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/queue").text).group(1)
        faq_question = "How many guest rooms can a trainee book at the Nainital training hostel?"
        answered = time.monotonic()
        answer = browser.post(f"/items/{item}/answer", data={
            "csrf": csrf, "answer": "Two guest rooms for up to three nights, on the warden's form HG-77.",
            "add_to_kb": "1", "faq_question": faq_question})
        assert answer.status_code == 200, answer.text[:300]
    written = list((s.root / "knowledge_base" / "faq").glob(f"q{item:05d}-*.md"))
    assert len(written) == 1, written
    source = f"faq/{written[0].name}"
    seconds = served_by_every_replica(s, faq_question, "HG-77", source, answered)
    print(f"FAQ served by each replica after {seconds} s")
