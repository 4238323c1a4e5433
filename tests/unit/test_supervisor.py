"""bot.supervisor with tiny real child processes (``python -c`` scripts that sleep or crash)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.supervisor import (
    ChildSpec,
    RestartPolicy,
    ServiceSpec,
    Supervisor,
    SupervisorGaveUp,
    describe_exit,
    run_until_stopped,
)

SLEEPER = "import time; time.sleep(60)"
#: Counts its own starts in a file, then crashes after a short while.
CRASHER = ("import sys, time, pathlib; p = pathlib.Path(sys.argv[1]); "
           "p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1'); time.sleep(0.1); sys.exit(3)")
FAST = RestartPolicy(max_failures=3, window_s=30, backoff_s=0.2, max_backoff_s=1.0)


def spec(tmp_path: Path, name: str, code: str, *args: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code, *args], dict(os.environ), tmp_path, tmp_path / f"{name}.log")


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def supervisor():
    sup = Supervisor(FAST, poll_s=0.05)
    yield sup
    sup.stop(grace=2)


def test_killed_child_is_restarted_alone_and_logged(supervisor, tmp_path, caplog):
    caplog.set_level(logging.WARNING, "bot.supervisor")
    victim = supervisor.spawn(spec(tmp_path, "action-1", SLEEPER))
    twin = supervisor.spawn(spec(tmp_path, "action-2", SLEEPER))
    supervisor.watch()
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: supervisor.processes["action-1"].pid != victim.pid)
    assert supervisor.processes["action-1"].poll() is None  # the new one runs
    assert supervisor.processes["action-2"] is twin and twin.poll() is None  # the twin was never touched
    assert "action-1 exited (signal SIGKILL); restarting in 0.2 s" in caplog.text
    noted = (tmp_path / "action-1.log").read_text()  # the child's own log says what happened
    assert "exited (signal SIGKILL); restart in 0.2 s" in noted and "restarting" in noted
    assert supervisor.gave_up is None


def test_crash_loop_gives_up_and_run_until_stopped_returns_non_zero(supervisor, tmp_path, caplog, capsys):
    caplog.set_level(logging.WARNING, "bot.supervisor")
    starts = tmp_path / "starts"
    supervisor.spawn(spec(tmp_path, "rasa", CRASHER, str(starts)))
    healthy = supervisor.spawn(spec(tmp_path, "web", SLEEPER))
    began = time.monotonic()
    assert run_until_stopped(supervisor, poll_s=0.05) == 1
    # Three exits: started, restarted after 0.2 s, after 0.4 s; the third exit ends it.
    assert starts.read_text() == "3"
    assert 0.6 <= time.monotonic() - began < 10
    assert "rasa exited (code 3) 3 times within 30 s; giving up and stopping everything" in caplog.text
    assert "rasa.log" in capsys.readouterr().err
    assert healthy.poll() is None  # stopping everything is the caller's move ...
    supervisor.stop(grace=2)
    assert healthy.poll() is not None and not supervisor.processes  # ... and stop() does it


def test_backoff_doubles_up_to_the_limit():
    policy = RestartPolicy(backoff_s=1, max_backoff_s=30)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def test_failures_older_than_the_window_are_forgotten(tmp_path):
    now = [0.0]
    sup = Supervisor(RestartPolicy(max_failures=2, window_s=10, backoff_s=0.0), clock=lambda: now[0])
    try:
        sup.spawn(spec(tmp_path, "worker", "import sys; sys.exit(1)"))
        for _ in range(4):  # one exit every 11 s: never two within the window
            wait_until(lambda: sup.processes["worker"].poll() is not None)
            now[0] += 11
            sup.check()  # notices the exit (1 recent failure) and, with no delay, restarts it
        assert sup.gave_up is None
        wait_until(lambda: sup.processes["worker"].poll() is not None)
        now[0] += 1  # the second exit within 10 s
        with pytest.raises(SupervisorGaveUp, match="worker exited \\(code 1\\) 2 times within 10 s"):
            sup.check()
    finally:
        sup.stop(grace=2)


def test_spawn_of_a_running_child_returns_it_and_starts_a_pending_one_at_once(tmp_path):
    slow = Supervisor(RestartPolicy(backoff_s=60, max_backoff_s=60), poll_s=0.05)
    try:
        first = slow.spawn(spec(tmp_path, "action-1", SLEEPER))
        assert slow.spawn(spec(tmp_path, "action-1", SLEEPER)) is first  # never two copies
        slow.watch()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        time.sleep(0.3)  # the supervisor has noticed; its restart is 60 s away
        again = slow.spawn(spec(tmp_path, "action-1", SLEEPER))  # e.g. an operator's manual restart
        assert again.pid != first.pid and again.poll() is None
        time.sleep(0.3)
        assert slow.processes["action-1"] is again  # the pending restart was cancelled, not doubled
    finally:
        slow.stop(grace=2)


def test_stop_ends_supervision_before_stopping_children(tmp_path):
    sup = Supervisor(RestartPolicy(backoff_s=0.0), poll_s=0.01)
    children = [sup.spawn(spec(tmp_path, f"c{i}", SLEEPER)) for i in range(3)]
    sup.watch()
    sup.stop(grace=2)
    assert all(c.poll() is not None for c in children)
    time.sleep(0.2)
    assert not sup.processes  # nothing was restarted behind the stop


def test_a_command_that_cannot_start_raises_at_spawn(supervisor, tmp_path):
    with pytest.raises(OSError):
        supervisor.spawn(ChildSpec("ghost", [str(tmp_path / "missing")], {}, tmp_path, tmp_path / "ghost.log"))


def test_describe_exit():
    assert describe_exit(3) == "code 3" and describe_exit(-9) == "signal SIGKILL"


class FakeService:
    """A server its owner starts and stops: ``crash()`` is a ``kill -9``, ``stop()`` is on purpose."""

    def __init__(self, fail_starts: int = 0) -> None:
        self.wanted = self.running = True
        self.starts = 0
        self.fail_starts = fail_starts

    def is_down(self) -> bool:
        return self.wanted and not self.running

    def start(self) -> None:
        self.starts += 1
        self.wanted = True
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("port taken")
        self.running = True

    def crash(self) -> None:
        self.running = False

    def stop(self) -> None:
        self.wanted = self.running = False


def service_spec(tmp_path: Path, name: str, service: FakeService) -> ServiceSpec:
    return ServiceSpec(name, service.is_down, service.start, tmp_path / f"{name}.log")


def test_a_service_that_dies_is_restarted_and_one_stopped_on_purpose_is_not(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "bot.supervisor")
    now = [0.0]
    sup = Supervisor(RestartPolicy(max_failures=3, window_s=30, backoff_s=1.0), clock=lambda: now[0])
    redis, postgres = FakeService(), FakeService()
    sup.supervise(service_spec(tmp_path, "redis", redis))
    sup.supervise(service_spec(tmp_path, "postgres", postgres))
    redis.crash()
    postgres.stop()  # e.g. a test or an operator taking the database down
    sup.check()
    assert redis.starts == 0  # the restart waits for its backoff ...
    now[0] += 1
    sup.check()
    assert redis.starts == 1 and redis.running  # ... then the owner's start function runs
    assert postgres.starts == 0 and not postgres.running  # never restarted behind its owner's back
    assert "redis exited (not running); restarting in 1 s" in caplog.text
    noted = (tmp_path / "redis.log").read_text()
    assert "restart in 1 s" in noted and "restarting" in noted


def test_a_service_that_cannot_start_counts_towards_the_crash_loop(tmp_path):
    now = [0.0]
    sup = Supervisor(RestartPolicy(max_failures=3, window_s=30, backoff_s=1.0), clock=lambda: now[0])
    nginx = FakeService(fail_starts=5)
    sup.supervise(service_spec(tmp_path, "nginx", nginx))
    nginx.crash()
    sup.check()  # failure 1: restart in 1 s
    now[0] += 1
    sup.check()  # the start fails: failure 2, restart in 2 s
    assert nginx.starts == 1 and sup.gave_up is None
    now[0] += 2
    with pytest.raises(SupervisorGaveUp, match="nginx exited \\(failure to start \\(port taken\\)\\) 3 times"):
        sup.check()
    assert sup.wait_failed(0)
