"""Keep the tutor's processes running: restart a crashed child with backoff, give up on a crash loop.

``make run`` (:mod:`bot.runner`) and ``make run-scaled`` (:mod:`bot.scaled`) start several
long-running children (action servers, Rasa, web page server, bridge, workers). None of them
is expected to exit. When one does - a crash, an out-of-memory kill, an operator's ``kill -9``
- the :class:`Supervisor` logs it and starts the same command again after a short delay that
doubles with every further failure of that child (1 s, 2 s, 4 s, ... up to ``max_backoff_s``).
The other children keep running: one dead action-server replica no longer takes the
surviving one down with it.

A child that fails ``max_failures`` times within ``window_s`` seconds is in a crash loop
(a broken configuration, a port taken by something else): restarting it again would only
hide the fault, so the supervisor gives up, logs one clear line naming the child and its log
file, and the caller stops everything and exits non-zero (:func:`run_until_stopped`).

Every child runs in its own process group (so a stop reaches the processes it started
itself), and writes stdout and stderr to its own log file, where the supervisor also notes
each restart.

Servers that are not the supervisor's own children - PostgreSQL (``pg_ctl`` detaches it),
and Redis and nginx, which their classes in :mod:`bot.scaled.services` start and stop
themselves - are watched as *services* (:class:`ServiceSpec`): the supervisor asks each
whether it is down (meant to run and not running) and calls its own start function, under
the same backoff and crash-loop rules. A service its owner stopped on purpose is not down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    """How to start one supervised child.

    Args:
        name: Unique name, used in logs (e.g. ``action-1``).
        command: argv of the child.
        env: Its complete environment.
        cwd: Its working folder.
        log_path: File that receives its stdout and stderr (appended to across restarts).
    """

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path


@dataclass(frozen=True)
class ServiceSpec:
    """A server the supervisor restarts through its owner's functions, not as its own child.

    Args:
        name: Unique name, used in logs (e.g. ``postgres``).
        is_down: True when the server is meant to run and does not (a crash, a ``kill -9``);
            False while it runs or after its owner stopped it on purpose.
        start: Starts it again and returns once it serves; raises when it cannot.
        log_path: File that receives the supervisor's notes about it.
    """

    name: str
    is_down: Callable[[], bool]
    start: Callable[[], None]
    log_path: Path


@dataclass
class RestartPolicy:
    """When to restart a child and when to give up.

    Args:
        max_failures: Exits of one child within ``window_s`` that count as a crash loop.
        window_s: The window over which exits are counted (seconds).
        backoff_s: Delay before the first restart; doubles with each further recent exit.
        max_backoff_s: Longest delay before a restart.
    """

    max_failures: int = 5
    window_s: float = 300.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def delay(self, recent_failures: int) -> float:
        """Seconds to wait before restarting a child that has exited ``recent_failures`` times."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(0, recent_failures - 1))


class SupervisorGaveUp(RuntimeError):
    """A child failed too often within the policy's window; everything should stop."""


def describe_exit(returncode: int) -> str:
    """``"code 3"`` or ``"signal SIGKILL"`` for a Popen return code."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"code {returncode}"


@dataclass
class _Child:
    spec: ChildSpec
    failures: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # set while a restart is pending


@dataclass
class _Service:
    spec: ServiceSpec
    failures: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # set while a restart is pending


class Supervisor:
    """Start children and keep them running (see the module docstring).

    Args:
        policy: Restart and give-up rules.
        processes: The live ``name -> Popen`` map to keep up to date (a caller's dict, so
            code that reads ``stack.processes[name]`` sees the restarted process).
        poll_s: How often the watcher thread looks at the children.
        clock: Monotonic clock (tests may pass their own).
    """

    def __init__(self, policy: RestartPolicy | None = None, processes: dict[str, subprocess.Popen] | None = None,
                 poll_s: float = 0.2, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or RestartPolicy()
        self.processes: dict[str, subprocess.Popen] = processes if processes is not None else {}
        self.poll_s = poll_s
        self.clock = clock
        self.gave_up: str | None = None  # the reason, once the supervisor has given up
        self._children: dict[str, _Child] = {}
        self._services: dict[str, _Service] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._failed = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ children

    def spawn(self, spec: ChildSpec) -> subprocess.Popen:
        """Start ``spec`` and supervise it; for a name already supervised, make sure it runs now.

        A running child is returned as it is; one waiting for its restart delay is started
        at once (so a caller that restarts a child by hand and the supervisor never start
        two copies).

        Returns:
            The child's running process.

        Raises:
            OSError: the command could not be started.
        """
        with self._lock:
            child = self._children.get(spec.name)
            current = self.processes.get(spec.name)
            if child is not None and current is not None and current.poll() is None:
                return current
            self._children[spec.name] = child or _Child(spec)
            self._children[spec.name].restart_at = None
            return self._start(spec)

    def supervise(self, spec: ServiceSpec) -> None:
        """Watch a service from the next pass on: restart it whenever ``spec.is_down()``."""
        with self._lock:
            self._services[spec.name] = _Service(spec)

    def _start(self, spec: ChildSpec) -> subprocess.Popen:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(spec.command, cwd=spec.cwd, env=spec.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[spec.name] = process
        return process

    def _note(self, spec: ChildSpec | ServiceSpec, line: str) -> None:
        """Append a supervisor line to the child's own log (best effort)."""
        with contextlib.suppress(OSError):
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError), open(spec.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n----- [supervisor {time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n")

    def check(self) -> None:
        """One supervision pass: notice exited children, start those whose delay has passed.

        Raises:
            SupervisorGaveUp: a child exited ``max_failures`` times within ``window_s``.
        """
        with self._lock:
            if self._stopping.is_set():
                return
            now = self.clock()
            for name, child in self._children.items():
                process = self.processes.get(name)
                if child.restart_at is None and process is not None and process.poll() is not None:
                    self._on_exit(child, process, now)
                if child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    self._note(child.spec, "restarting")
                    try:
                        process = self._start(child.spec)
                    except OSError as exc:
                        logger.error("%s could not be restarted: %s", name, exc)
                        self._on_exit(child, None, now)
                        continue
                    logger.warning("%s restarted (pid %d)", name, process.pid)
            for name, service in self._services.items():
                self._check_service(name, service, now)

    def _check_service(self, name: str, service: _Service, now: float) -> None:
        spec = service.spec
        if service.restart_at is None and spec.is_down():
            self._count_failure(service, "not running", now)
        if service.restart_at is not None and now >= service.restart_at:
            service.restart_at = None
            self._note(spec, "restarting")
            try:
                spec.start()
            except Exception as exc:  # noqa: BLE001 - any failure to start counts towards the crash loop
                logger.error("%s could not be restarted: %s", name, exc)
                self._count_failure(service, f"failure to start ({exc})", self.clock())
                return
            logger.warning("%s restarted", name)

    def _on_exit(self, child: _Child, process: subprocess.Popen | None, now: float) -> None:
        how = describe_exit(process.returncode) if process is not None else "failure to start"
        if process is not None:
            # What the child started itself (its process group) goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self._count_failure(child, how, now)

    def _count_failure(self, child: _Child | _Service, how: str, now: float) -> None:
        """Note one exit of ``child``; schedule its restart, or give up on a crash loop."""
        spec, policy = child.spec, self.policy
        child.failures.append(now)
        while child.failures and now - child.failures[0] > policy.window_s:
            child.failures.popleft()
        recent = len(child.failures)
        if recent >= policy.max_failures:
            self.gave_up = (f"{spec.name} exited ({how}) {recent} times within {policy.window_s:g} s; "
                            f"giving up and stopping everything; see {spec.log_path}")
            self._note(spec, f"exited ({how}); crash loop, supervisor gives up")
            logger.error("%s", self.gave_up)
            self._failed.set()
            raise SupervisorGaveUp(self.gave_up)
        delay = policy.delay(recent)
        child.restart_at = now + delay
        self._note(spec, f"exited ({how}); restart in {delay:g} s")
        logger.warning("%s exited (%s); restarting in %g s (failure %d of %d allowed within %g s); log: %s",
                       spec.name, how, delay, recent, policy.max_failures, policy.window_s, spec.log_path)

    # ------------------------------------------------------------------ watcher thread

    def watch(self) -> None:
        """Supervise in a background thread until :meth:`stop` (or until it gives up)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_s):
            try:
                self.check()
            except SupervisorGaveUp:
                return
            except Exception:  # a bug here must not silently end supervision
                logger.exception("supervisor pass failed")

    def wait_failed(self, timeout: float | None = None) -> bool:
        """Block until the supervisor gives up (True) or ``timeout`` passes (False)."""
        return self._failed.wait(timeout)

    def stop(self, grace: float = 10.0) -> None:
        """Stop supervising, then stop every child (SIGTERM, SIGKILL after ``grace`` s)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        with self._lock:
            stop_process_groups(self.processes, grace)
            self._children.clear()
            self._services.clear()  # their owners stop them


def stop_process_groups(processes: dict[str, subprocess.Popen], grace: float = 10.0) -> None:
    """Stop each process's group: SIGCONT (a test may have paused it) and SIGTERM, then
    SIGKILL for those still running after ``grace`` seconds. Empties ``processes``."""
    for process in processes.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    processes.clear()


def run_until_stopped(supervisor: Supervisor, poll_s: float = 1.0) -> int:
    """Block while the supervisor keeps the children running (Ctrl-C / SIGTERM end the wait).

    Returns:
        1 once the supervisor has given up on a crash-looping child (the reason is logged
        and printed); the caller then stops everything.
    """
    supervisor.watch()
    while not supervisor.wait_failed(poll_s):  # a timed wait, so Ctrl-C is noticed
        pass
    print(f"stopping: {supervisor.gave_up}", file=sys.stderr, flush=True)
    return 1
