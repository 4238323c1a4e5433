"""The action server killed under the runner (bot.runner.Stack, as ``make run`` uses it): the
learner gets an apology within seconds, the supervisor restarts the action server, and the
same learner then gets real answers again. Uses the shared ``stack`` and leaves it healthy.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.integration

QUESTION = "What is the fee for an RTI application?"
APOLOGY = "Sorry, I could not finish that just now"
APOLOGY_HI = "क्षमा करें, अभी यह पूरा नहीं हो सका"


def chat(stack, sender: str, message: str) -> tuple[str, float]:
    """One REST turn: (the replies' text, seconds it took)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as resp:
        replies = json.loads(resp.read())
    return "\n".join(r.get("text", "") for r in replies), time.monotonic() - start


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def kill_action_server(stack) -> int:
    """SIGKILL the action server's process group; returns the dead pid."""
    victim = stack.processes["action-server"]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    return victim.pid


def wait_for_restart(stack, dead_pid: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.processes["action-server"].pid != dead_pid and healthy(stack.action_port):
            return
        time.sleep(0.5)
    log = (stack.log_dir / "action-server.log").read_text(errors="replace")[-3000:]
    pytest.fail(f"the action server did not come back within {timeout:.0f} s:\n{log}")


def test_killed_action_server_apology_then_restart_and_answers(stack) -> None:
    sender, hindi = f"sup-{uuid.uuid4().hex[:8]}", f"sup-hi-{uuid.uuid4().hex[:8]}"
    assert "10" in chat(stack, sender, QUESTION)[0]  # the conversation exists and is answered
    chat(stack, hindi, "हिंदी में बात करो")
    dead = kill_action_server(stack)

    text, seconds = chat(stack, sender, QUESTION)
    assert APOLOGY in text and seconds < 10, (text, seconds)
    assert text.count(APOLOGY) == 1, text  # one apology, not one per failed action
    text, seconds = chat(stack, hindi, "आरटीआई आवेदन का शुल्क क्या है?")
    assert APOLOGY_HI in text and seconds < 10, (text, seconds)

    wait_for_restart(stack, dead)
    text, _ = chat(stack, sender, QUESTION)
    assert APOLOGY not in text and "10" in text and "Source:" in text, text
    log = (stack.log_dir / "action-server.log").read_text(errors="replace")
    assert "exited (signal SIGKILL); restart in" in log
