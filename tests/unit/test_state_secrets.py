"""Secrets generated under the state folder: processes starting together agree on one."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from bot.config import _state_secret

PROCESSES = 12
ROUNDS = 15


def _race(state_dir: str, name: str, barrier, results) -> None:
    barrier.wait()  # all processes ask for the secret at the same moment
    try:
        results.put(_state_secret(Path(state_dir), name))
    except OSError as exc:  # the old fixed temp name: another process renamed it away
        results.put(f"error: {exc!r}")


def test_processes_starting_together_get_one_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        name = f"secret_{round_}"
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_race, args=(str(tmp_path), name, barrier, results))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        values = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert len(set(values)) == 1, values  # one secret, and no process failed
        path = tmp_path / "secrets" / name
        assert path.read_text() == values[0] and len(values[0]) >= 32
        assert path.stat().st_mode & 0o777 == 0o600
        assert _state_secret(tmp_path, name) == values[0]  # stable across restarts
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == sorted(f"secret_{r}" for r in range(ROUNDS))
