"""A real tutor stack for integration tests: action server + Rasa (+ web page server).

The stack runs on free loopback ports with its own copy of the knowledge folder and
index (copied from the project's index built by ``make index``, so only the tests'
own edits are embedded), its own state folder and a fresh action-server token.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, load_settings
from bot.knowledge.embedders import make_embedders
from bot.knowledge.index import update_index
from bot.runner import Stack, free_port


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    model = PROJECT_ROOT / "models" / "tutor.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make train` (make test does this first)")
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
        rasa_port=free_port(), action_port=free_port(), web_port=web_port,
        env={
            "TUTOR_KB_DIR": str(kb_dir), "TUTOR_INDEX_DIR": str(index_dir), "TUTOR_STATE_DIR": str(state_dir),
            "DATABASE_URL": f"sqlite:///{state_dir / 'learners.db'}", "ACTION_SERVER_TOKEN": token,
            "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port}",
        },
        log_dir=root / "logs",
    )
    running.kb_dir, running.token = kb_dir, token  # type: ignore[attr-defined]
    try:
        running.start(timeout=300)
    except RuntimeError:
        for log in sorted((root / "logs").glob("*.log")):
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    yield running
    running.stop()
