"""Scaled mode under ``kill -9``: of one action replica (the other keeps serving, the
supervisor restarts the killed one, and the restarted one serves again), and of nginx,
Redis and PostgreSQL, which the supervisor starts again so that learners are answered
within seconds (own module: its own scaled stack, so the order of
tests/scaled/test_scaled.py is not disturbed)."""

from __future__ import annotations

import os
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


def answered_again(stack, who: str, within_s: float) -> float:
    """Ask until a learner gets the real answer again; returns the seconds it took."""
    began = time.monotonic()
    last = ""
    while time.monotonic() - began < within_s:
        try:
            last = ask(stack, f"{who}-{int(time.monotonic() * 1000)}")
            if APOLOGY not in last and "10" in last:
                return time.monotonic() - began
        except (httpx.HTTPError, AssertionError) as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"no answer within {within_s} s after {who} was killed; last: {last[:300]}")


def server_pid(stack, server: str) -> int | None:
    """The process id of PostgreSQL's postmaster, or of Redis's or nginx's (master) process."""
    if server == "postgres":
        return stack.postgres.postmaster_pid()
    process = getattr(stack, server).process
    return process.pid if process is not None else None


@pytest.mark.parametrize("server", ["nginx", "redis", "postgres"])
def test_a_killed_server_is_restarted_by_the_supervisor_and_learners_are_answered_again(scaled_stack, server):
    s = scaled_stack
    assert APOLOGY not in ask(s, f"before-{server}")
    pid = server_pid(s, server)
    assert pid
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # nginx's orphaned workers may answer until the supervisor ends them: wait for the new server.
    while server_pid(s, server) in (None, pid):
        log = (s.log_dir / f"{server}.log").read_text(errors="replace") if (s.log_dir / f"{server}.log").exists() else ""
        assert time.monotonic() - killed_at < 60, f"{server} not restarted within 60 s: {log[-1000:]}"
        time.sleep(0.2)
    restarted = time.monotonic() - killed_at
    took = answered_again(s, server, 60)
    log = (s.log_dir / f"{server}.log").read_text(errors="replace")
    assert "exited (not running); restart in" in log and "restarting" in log, log[-1000:]
    print(f"{server}: restarted {restarted:.1f} s after kill -9, answered again {took:.1f} s later")
