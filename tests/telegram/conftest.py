"""Fixtures of the Telegram bridge tests; the harness itself is in :mod:`tg_harness`.

Test modules import from ``tg_harness``, never from ``conftest``: that name refers to
whichever test folder's conftest pytest loaded last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tg_harness import Harness


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A :class:`Harness` with its own state folder."""
    return Harness(tmp_path / "state", monkeypatch)
