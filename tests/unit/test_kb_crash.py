"""``kill -9`` of ``kb ingest`` at random moments never leaves an unloadable index."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.knowledge.index import current_version_dir, validate_version
from bot.knowledge.search import Retriever
from tests.conftest import write

ROOT = Path(__file__).resolve().parents[2]
KILLS = 15


def _ingest(kb: Path, index: Path) -> subprocess.Popen:
    env = {**os.environ, "TUTOR_EMBEDDERS": "hash", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "bot.kb.cli", "ingest", "--kb", str(kb),
                             "--index", str(index)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_kill_9_at_random_points_always_leaves_the_last_good_version_loadable(tmp_path: Path) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    body = "The officer shall keep the register of receipts up to date. " * 30
    for n in range(40):
        write(kb / "modules" / f"doc{n:02d}.md", f"# Document {n}\n\n## 1. Topic {n}\n\n{body}\nCode word w{n}x0.\n")
    assert _ingest(kb, index).wait(300) == 0
    rng = random.Random(7)
    finished = killed = 0
    # Kill at a random fraction of how long a run takes on this machine, so the kills land
    # mid-run whether the machine is fast or loaded; a run that finishes first is fine too.
    started = time.monotonic()
    for n in rng.sample(range(40), 5):
        write(kb / "modules" / f"doc{n:02d}.md", f"# Document {n}\n\n## 1. Topic {n}\n\n{body}\nCode word w{n}x0.\n")
    assert _ingest(kb, index).wait(300) == 0
    duration = time.monotonic() - started
    round_ = 0
    while killed < KILLS and round_ < 4 * KILLS:
        round_ += 1
        # change a few files so that every run has real work to do (parse, embed, write)
        for n in rng.sample(range(40), 5):
            write(kb / "modules" / f"doc{n:02d}.md",
                  f"# Document {n}\n\n## 1. Topic {n}\n\n{body}\nCode word w{n}x{round_}.\n")
        process = _ingest(kb, index)
        time.sleep(rng.uniform(0.05, 0.9) * duration)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        else:
            finished += 1
        process.wait(120)
        live = current_version_dir(index)
        assert live is not None and not live.name.startswith("."), f"round {round_}: no live version"
        validate_version(live)
        hits = Retriever(index, check_interval=0).search("register of receipts", k=3).hits
        assert hits, f"round {round_}: search found nothing in {live.name}"
    assert killed == KILLS, f"only {killed} runs were killed mid-way ({finished} finished first)"
    # The next complete run publishes the newest content and clears crash leftovers.
    assert _ingest(kb, index).wait(300) == 0
    versions = index / "versions"
    assert not list(versions.glob(".v*")) and not list(index.glob(".CURRENT.*"))
    retriever = Retriever(index, check_interval=0)
    texts = " ".join(c.text for c in retriever.index.chunks)
    assert f"x{round_}." in texts
