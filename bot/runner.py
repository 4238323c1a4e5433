"""Start the whole tutor on one machine and stop it cleanly (``make run``).

Usage::

    python -m bot.runner [--no-web] [--rasa-port 5005] [--action-port 5055] [--web-port 8080]

Starts, in order, the action server (Python 3.11), the Rasa server (Python 3.10,
``.venv-rasa``), the web chat page, and, when ``TELEGRAM_BOT_TOKEN`` is set, the
Telegram bridge; waits until each answers its health check; prints where to chat;
and on Ctrl-C (or SIGTERM) stops them all. A child that exits is restarted with backoff
(:mod:`bot.supervisor`); only a crash loop stops everything, with a non-zero exit. Rasa and
the action server listen on loopback only; the web page server is the one door for browsers.
Rasa runs through :mod:`rasa_plugins.serve`, which apologises to the learner within seconds
while the action server is down or hung.

The same :class:`Stack` is used by the integration tests with free ports.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings
from bot.supervisor import ChildSpec, RestartPolicy, Supervisor, run_until_stopped, stop_process_groups

# stop_process_groups moved to bot.supervisor; still importable from here.
__all__ = ["Stack", "free_port", "stop_process_groups", "wait_http"]

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
#: Thread-pool sizes of OpenMP/MKL (torch, numpy, faiss) and TensorFlow (Rasa). One thread per
#: process measured about 3x the throughput of the libraries' defaults under concurrent
#: learners on two cores (make bench, load section): the processes stop fighting for cores.
SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS",
                     "TF_INTER_OP_PARALLELISM_THREADS")
PYTHON = sys.executable
#: Rasa through our launcher: Rasa's CLI plus the apology when the action server is down.
RASA_COMMAND = (str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python"), "-m", "rasa_plugins.serve")


def free_port() -> int:
    """A free TCP port on loopback (for tests and parallel stacks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers 200.

    Raises:
        RuntimeError: the process exited or the timeout passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


@dataclass
class Stack:
    """The tutor's processes: action server, Rasa, web page server, Telegram bridge.

    Args:
        rasa_port / action_port / web_port: TCP ports (loopback except the web page).
        model: the trained Rasa model (default: ``models/tutor.tar.gz``).
        env: extra environment for every process (e.g. a test's TUTOR_INDEX_DIR).
        web: also start the web page server.
        telegram: also start the Telegram bridge (needs TELEGRAM_BOT_TOKEN).
        log_dir: where each process writes its log.
        restart: when a crashed process is restarted and when the stack gives up.
    """

    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    model: Path = PROJECT_ROOT / "models" / "tutor.tar.gz"
    env: dict[str, str] = field(default_factory=dict)
    web: bool = True
    telegram: bool = False
    console: bool = False  # [human loop] trainer console (bot.console), loopback
    workers: bool = True  # background jobs: lessons, review reminders, purge (bot.background_worker)
    console_port: int = 8090
    log_dir: Path = PROJECT_ROOT / ".state" / "logs"
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.restart, self.processes)

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["ACTION_PORT"] = str(self.action_port)
        env["WEB_PORT"] = str(self.web_port)
        env["CONSOLE_PORT"] = str(self.console_port)
        env["RASA_URL"] = f"http://127.0.0.1:{self.rasa_port}"
        env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{self.action_port}/webhook"
        # One token for both sides: the caller's, or the one generated under .state/.
        env["ACTION_SERVER_TOKEN"] = self.env.get("ACTION_SERVER_TOKEN") or load_settings().action_token
        env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")  # self-hosted: no calls home
        for name in SINGLE_THREAD_ENV:
            env.setdefault(name, "1")
        return env

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        return self.supervisor.spawn(ChildSpec(name, command, env, PROJECT_ROOT, self.log_dir / f"{name}.log"))

    def start(self, timeout: float = 180.0) -> None:
        """Start every process and wait for their health checks.

        Raises:
            RuntimeError: a process failed to come up (the others are stopped).
        """
        if not RASA_BIN.exists():
            raise RuntimeError(f"{RASA_BIN} missing: run `make install`")
        if not self.model.exists():
            raise RuntimeError(f"no trained model at {self.model}: run `make train`")
        env = self._environment()
        try:
            action = self._spawn("action-server", [PYTHON, "-m", "bot.action_server", "--host", "127.0.0.1",
                                                   "--port", str(self.action_port)], env)
            rasa = self._spawn("rasa", [
                *RASA_COMMAND, "run", "--interface", "127.0.0.1", "--port", str(self.rasa_port),
                "--model", str(self.model), "--endpoints", "endpoints.yml",
                "--credentials", "credentials.yml", "--log-file", str(self.log_dir / "rasa-debug.log"),
            ], env)
            if self.web:
                web = self._spawn("web", [PYTHON, "-m", "bot.web.server"], env)
            if self.telegram:
                self._spawn("telegram", [PYTHON, "-m", "bot.channels.telegram_bridge"], env)
            if self.workers:
                self._spawn("background-worker", [PYTHON, "-m", "bot.background_worker"], env)
            if self.console:
                console = self._spawn("console", [PYTHON, "-m", "bot.console", "--port", str(self.console_port)], env)
            wait_http(f"http://127.0.0.1:{self.action_port}/health", timeout, action)
            wait_http(f"http://127.0.0.1:{self.rasa_port}/", timeout, rasa)
            if self.web:
                wait_http(f"http://127.0.0.1:{self.web_port}/healthz", timeout, web)
            if self.console:
                wait_http(f"http://127.0.0.1:{self.console_port}/healthz", timeout, console)
            self.supervisor.watch()  # from here on a crashed process is restarted
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = 10.0) -> None:
        """Stop supervising, then every process: SIGTERM, then SIGKILL after ``grace`` seconds."""
        self.supervisor.stop(grace)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description="Run the tutor on this machine.")
    parser.add_argument("--rasa-port", type=int, default=int(settings.rasa_url.rsplit(":", 1)[-1]))
    parser.add_argument("--action-port", type=int, default=settings.action_port)
    parser.add_argument("--web-port", type=int, default=settings.web_port)
    parser.add_argument("--no-web", action="store_true")
    args = parser.parse_args()
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    from bot.handoff.settings import load_human_loop_settings
    from bot.logging_setup import configure_logging

    configure_logging()  # the supervisor's restart and give-up lines

    human_loop = load_human_loop_settings()
    stack = Stack(rasa_port=args.rasa_port, action_port=args.action_port, web_port=args.web_port,
                  web=not args.no_web, telegram=bool(settings.telegram_token),
                  console=human_loop.console_enabled, console_port=human_loop.console_port)
    print("Starting the tutor (Rasa takes about half a minute to load)...", flush=True)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        host = "localhost" if settings.web_host in ("127.0.0.1", "0.0.0.0") else settings.web_host
        print(f"""
  The tutor is running.
    Web chat page:   http://{host}:{args.web_port}/
    Chat in this terminal (another shell):  make chat
    Rasa REST (loopback only):  http://127.0.0.1:{args.rasa_port}/webhooks/rest/webhook
    Action server (loopback, token required): http://127.0.0.1:{args.action_port}/webhook
    Telegram bridge: {'on' if settings.telegram_token else 'off (set TELEGRAM_BOT_TOKEN to enable)'}
    Trainer console: {human_loop.console_public_url + '/  (create a login: .venv/bin/tutor-admin add-trainer NAME --role admin)' if human_loop.console_enabled else 'off (CONSOLE_ENABLED=false)'}
    Logs: {stack.log_dir}
  Trainers: edit files in {settings.kb_dir} - changes go live in a few seconds.
  Press Ctrl-C to stop.
""", flush=True)
        return run_until_stopped(stack.supervisor)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
