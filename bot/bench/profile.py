"""Where the tutor's two processes spend their time under load: py-spy attached to both.

Usage::

    python -m bot.bench.profile [--seconds 30] [--turns all|canned|knowledge] [--top 25]

(``make bench-profile``). Starts the tutor as :mod:`bot.bench.load` does (REST channel, one math
thread per process), warms it up, then replays :data:`bot.bench.load.OUR_TURNS` for one learner
while ``py-spy record`` samples the Rasa process and the action server. For each process it
prints the functions with the largest inclusive share of the busy samples (samples whose
innermost frame is an event loop or a socket wait are idle and left out), and keeps py-spy's
raw stacks under ``.state/bench/profile-<process>.txt`` for a flame graph
(``py-spy``'s raw format is Brendan Gregg's collapsed stacks).

Sampling slows the processes a little (py-spy reads their memory from outside), so read
shares, not milliseconds: the milliseconds are :mod:`bot.bench.load`'s. py-spy is a dev
dependency (``requirements/dev.txt``); attaching needs ptrace rights (root in a container, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings

STATE = PROJECT_ROOT / ".state" / "bench"
#: Innermost frames that mean "waiting", not working (event loops, sockets, locks).
IDLE_LEAVES = ("select (selectors", "poll (selectors", "_run_once (asyncio", "serve (sanic/server/runners",
               "_run_server_forever (sanic/server/runners", "wait (threading", "_worker (concurrent/futures/thread",
               "run_forever (asyncio", "InotifyFD._check_inotify_fd (watchdog")
#: Servers', schedulers' and frameworks' own frames: on most stacks, so they would crowd the table.
SCAFFOLDING = ("runpy", "<frozen runpy>", "sanic/", "dask/", "rasa/cli/", "rasa/api.py", "rasa/core/run.py",
               "rasa/__main__.py", "rasa_plugins/serve.py", "bot/action_server.py", "tensorflow/python/",
               "asyncio/", "threading.py", "concurrent/futures/", "contextlib.py", "connection_task",
               "handle_request", "torch/nn/modules/module.py", "torch/utils/_contextlib.py")
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
KINDS = {"canned": ("hello", "thanks", "/consent_accept"),
         "knowledge": ("what is the fee for an RTI application?", "how many days of casual leave can I take?",
                       "who is the first appellate authority under RTI?", "show more")}


def _short(frame: str) -> str:
    """``function (package/module.py)`` from py-spy's ``function (/abs/path/module.py:123)``."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"].split("site-packages/")[-1].replace(str(PROJECT_ROOT) + "/", "")
    return f"{match['name']} ({path})"


def busy_shares(raw: str) -> tuple[int, Counter[str]]:
    """Inclusive sample counts per function over the busy samples of a py-spy raw profile.

    Args:
        raw: py-spy ``--format raw`` output: one ``frame;frame;...;innermost count`` per line.

    Returns:
        ``(busy samples, Counter of function -> busy samples that have it on the stack)``;
        a function counts once per sample however deep it recurses.
    """
    busy, shares = 0, Counter[str]()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        busy += int(count)
        for name in set(frames):
            shares[name] += int(count)
    return busy, shares


def report(name: str, raw: str, top: int) -> list[str]:
    """Markdown lines: the ``top`` functions by inclusive share of ``name``'s busy samples.

    Frames of the servers, schedulers and frameworks (:data:`SCAFFOLDING`) are left out.
    """
    busy, shares = busy_shares(raw)
    lines = [f"{name}: {busy} busy samples", "", "| share | function |", "|---|---|"]
    if not busy:
        return lines
    for function, count in shares.most_common():
        if any(part in function for part in SCAFFOLDING):
            continue
        lines.append(f"| {100 * count / busy:.1f} % | {function} |")
        if len(lines) >= top + 4:
            break
    return lines


def _turns(kind: str) -> list[str]:
    from bot.bench.load import OUR_TURNS

    return list(OUR_TURNS) if kind == "all" else [t for t in OUR_TURNS if t in KINDS[kind]]


def main(argv: list[str] | None = None) -> None:
    """Profile both processes under a one-learner load and print where their time goes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--turns", choices=["all", *KINDS], default="all")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: `make install` puts it in .venv (requirements/dev.txt)")

    from bot.bench.load import run_level
    from bot.runner import Stack, free_port
    from bot.scaled.stack import SINGLE_THREAD_ENV

    for variable in SINGLE_THREAD_ENV:
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    load_settings()
    STATE.mkdir(parents=True, exist_ok=True)
    turns = _turns(args.turns)
    stack = Stack(rasa_port=free_port(), action_port=free_port(), web=False,
                  model=Path(os.environ.get("BENCH_MODEL") or PROJECT_ROOT / "models" / "tutor.tar.gz"),
                  log_dir=STATE / "logs", env={"DATABASE_URL": f"sqlite:///{STATE / 'profile-learners.db'}"})
    with stack:
        url = f"http://127.0.0.1:{stack.rasa_port}"
        asyncio.run(run_level(url, turns, 1, 8))  # warm: models loaded, caches filled
        outputs = {"rasa": STATE / "profile-rasa.txt", "action server": STATE / "profile-action-server.txt"}
        pids = {"rasa": stack.processes["rasa"].pid, "action server": stack.processes["action-server"].pid}
        spies = [subprocess.Popen([py_spy, "record", "--pid", str(pids[name]), "--duration", str(int(args.seconds)),
                                   "--rate", "200", "--format", "raw", "--nonblocking", "-o", str(path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for name, path in outputs.items()]
        level = asyncio.run(run_level(url, turns, 1, args.seconds))
        for spy in spies:
            _, error = spy.communicate()
            if spy.returncode:
                sys.exit(f"py-spy failed: {error.decode(errors='replace').strip()}")
    print(f"{level.messages} messages ({args.turns} turns, one learner, {args.seconds:g} s, sampled at 200 Hz)\n")
    for name, path in outputs.items():
        print("\n".join(report(name, path.read_text(), args.top)), "\n")


if __name__ == "__main__":
    main()
