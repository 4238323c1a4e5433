"""Scaled mode under ``kill -9`` of one action replica: the other keeps serving, the
supervisor restarts the killed one, and the restarted one serves again (own module: its
own scaled stack, so the order of tests/scaled/test_scaled.py is not disturbed)."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

pytestmark = [pytest.mark.scaled, pytest.mark.slow]

QUESTION = "what is the fee for an RTI application?"
APOLOGY = "could not finish that just now"


def ask(stack, sender: str) -> str:
    resp = httpx.post(f"http://127.0.0.1:{stack.ports.rasa_lb}/webhooks/rest/webhook",
                      json={"sender": sender, "message": QUESTION}, timeout=60)
    assert resp.status_code == 200, resp.text
    return " ".join(r.get("text") or "" for r in resp.json())


def up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_one_action_replica_killed_the_other_serves_and_it_is_restarted(scaled_stack):
    s = scaled_stack
    survivor = s.processes["action-2"]
    victim = s.processes["action-1"]
    s.signal("action-1", signal.SIGKILL)
    victim.wait(10)
    # The surviving replica answers, again and again, while its twin is down.
    for i in range(3):
        text = ask(s, f"sup-scaled-{i}")
        assert APOLOGY not in text and "10" in text, text
    assert s.processes["action-2"] is survivor and survivor.poll() is None  # untouched, unlike before
    assert all(p.poll() is None for name, p in s.processes.items() if name != "action-1")

    deadline = time.monotonic() + 240
    while not (s.processes["action-1"].pid != victim.pid and up(s.ports.action[0])):
        assert time.monotonic() < deadline, (s.log_dir / "action-1.log").read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    assert "exited (signal SIGKILL); restart in" in (s.log_dir / "action-1.log").read_text(errors="replace")

    # The restarted replica carries the traffic alone once its twin is killed in turn (a refused
    # connection makes nginx try the other replica; a hung one would cost a timeout instead).
    time.sleep(11)  # nginx's fail_timeout: the balancer tries the restarted replica again
    s.signal("action-2", signal.SIGKILL)
    survivor.wait(10)
    for i in range(2):
        text = ask(s, f"sup-scaled-after-{i}")
        assert APOLOGY not in text and "10" in text, text
