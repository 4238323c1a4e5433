"""The ``stack`` fixture: a real tutor (action server + Rasa + web page server) for the
integration and full-stack browser tests.

It lives here, imported once by ``tests/conftest.py``, so that one session-scoped stack
serves every test directory in a run (tests/integration and tests/browser): starting
Rasa costs about half a minute, and two stacks at once would not fit the machine.

The stack runs on free loopback ports with its own copy of the knowledge folder and
index (copied from the project's index built by ``make index``, so only the tests'
own edits are embedded), its own state folder and a fresh action-server token. The
model is ``models/tutor.tar.gz`` (``make train``), or ``TUTOR_TEST_MODEL`` when set
(e.g. a model trained into a scratch folder while the project's is being retrained).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """Start the real stack once per test session and stop it at the end.

    Yields:
        The running :class:`bot.runner.Stack`, with ``kb_dir`` (its knowledge folder,
        watched live), ``token`` (the action-server token) and ``state_dir`` attached.
    """
    # Heavy imports here: unit-test runs import this module but never use the fixture.
    from bot.config import PROJECT_ROOT, load_settings
    from bot.knowledge.embedders import make_embedders
    from bot.knowledge.index import update_index
    from bot.runner import Stack, free_port

    model = Path(os.environ.get("TUTOR_TEST_MODEL") or PROJECT_ROOT / "models" / "tutor.tar.gz")
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train` (make test does this first)")
    root = tmp_path_factory.mktemp("stack")
    kb_dir, index_dir, state_dir = root / "kb", root / "index", root / "state"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", kb_dir)
    project_index = load_settings().index_dir
    if (project_index / "CURRENT").exists():
        shutil.copytree(project_index, index_dir, ignore=shutil.ignore_patterns(".lock"))
    # Brings the copy up to date (the copied KB has the same content: nothing to embed).
    update_index(kb_dir, index_dir, make_embedders(load_settings().embedder))
    token = secrets.token_urlsafe(24)
    web_port = free_port()
    running = Stack(
        rasa_port=free_port(), action_port=free_port(), web_port=web_port, model=model,
        env={
            "TUTOR_KB_DIR": str(kb_dir), "TUTOR_INDEX_DIR": str(index_dir), "TUTOR_STATE_DIR": str(state_dir),
            "DATABASE_URL": f"sqlite:///{state_dir / 'learners.db'}", "ACTION_SERVER_TOKEN": token,
            "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port}",
            # Short sessions: every multi-turn flow in the e2e tests crosses session rollovers.
            "TUTOR_SESSION_TURNS": "4", "TUTOR_SESSION_KEEP_TURNS": "2",
        },
        log_dir=root / "logs",
    )
    running.kb_dir, running.token, running.state_dir = kb_dir, token, state_dir  # type: ignore[attr-defined]
    try:
        running.start(timeout=300)
    except RuntimeError:
        for log in sorted((root / "logs").glob("*.log")):
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    yield running
    running.stop()
