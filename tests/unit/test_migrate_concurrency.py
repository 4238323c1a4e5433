"""Several processes starting together migrate one SQLite database without racing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from bot.store import current_revision, make_engine

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_start_ups_migrate_a_sqlite_file_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'learners.db'}"
    code = f"from bot.store import migrate; migrate({url!r})"
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE)
                 for _ in range(4)]
    results = [(p.wait(120), p.stderr.read().decode()) for p in processes]
    assert all(rc == 0 for rc, _ in results), [err[-400:] for rc, err in results if rc]
    engine = make_engine(url)
    assert current_revision(engine) is not None
    assert "learners" in inspect(engine).get_table_names()
