"""The ``scaled_stack`` fixture: scaled mode (PostgreSQL, Redis, nginx, 2 Rasa + 2 action
servers, web page server) on free loopback ports, started once for the ``scaled`` tests.

Needs Debian's ``postgresql``, ``redis-server`` and ``nginx`` (``.ci/run`` installs them)
and the trained model (``TUTOR_TEST_MODEL`` or ``models/tutor.tar.gz``). As in ``make run-scaled``,
one indexer process watches the knowledge folder and is the only writer of the index folder,
which both action servers (``--no-watch``) read: here both folders are copies (the project's
``knowledge_base/`` and its index from ``make index``) in the stack's own folder, so tests may
edit documents and the console may write FAQ answers. ``TUTOR_SCALED_KEEP=1`` keeps the
stack's folder (logs, nginx access log) after the tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest


def _missing_binaries() -> list[str]:
    import glob

    missing = [b for b in ("redis-server", "nginx") if not (shutil.which(b) or Path(f"/usr/sbin/{b}").exists()
                                                            or Path(f"/usr/bin/{b}").exists())]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("postgresql")
    return missing


@pytest.fixture(scope="module")
def scaled_stack():
    from bot.config import PROJECT_ROOT, load_settings
    from bot.scaled.stack import Ports, ScaledStack

    missing = _missing_binaries()
    if missing:
        pytest.fail(f"scaled tests need Debian packages: apt-get install -y {' '.join(missing)}")
    model = Path(os.environ.get("TUTOR_TEST_MODEL") or PROJECT_ROOT / "models" / "tutor.tar.gz")
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train`")
    root = Path(tempfile.mkdtemp(prefix="tutor-scaled-"))
    root.chmod(0o755)  # PostgreSQL runs as 'postgres' when the tests run as root
    kb_dir, index_dir = root / "knowledge_base", root / "index"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", kb_dir)
    if (load_settings().index_dir / "CURRENT").exists():  # else the indexer builds it (minutes)
        shutil.copytree(load_settings().index_dir, index_dir)
    stack = ScaledStack(
        # 10 s action timeout: a real answer takes up to ~5 s on a loaded 2-core test machine.
        root=root, ports=Ports.free(), model=model, durable=False, watch=True, log_sender=True, action_timeout_s=10,
        env={"ACTION_SERVER_TOKEN": secrets.token_urlsafe(24), "TUTOR_KB_DIR": str(kb_dir),
             "TUTOR_INDEX_DIR": str(index_dir), "TUTOR_STATE_DIR": str(root / "state")},
    )  # fmt: skip
    try:
        stack.start(timeout=600)  # Rasa loads its model in minutes on a busy 2-core machine
    except BaseException:
        for log in sorted(stack.log_dir.glob("*.log")):
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        shutil.rmtree(root, ignore_errors=True)
        raise
    yield stack
    stack.stop()
    if os.environ.get("TUTOR_SCALED_KEEP"):  # debugging: keep logs, nginx access log, PostgreSQL log
        print(f"scaled stack files kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
