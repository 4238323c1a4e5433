"""Run a unit test module's tests again on PostgreSQL (imported by the ``test_*_postgres`` modules).

A unit module is loaded by path under a ``postgres_`` name, and its ``test_*`` functions are
collected again in the PostgreSQL module, where a fixture of the same name (``db_url``,
``store_url``) points them at a fresh database.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

UNIT = Path(__file__).resolve().parents[1] / "unit"


def load_unit_module(name: str) -> ModuleType:
    """``tests/unit/<name>.py`` as a module of its own (registered, so its dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location(f"postgres_{name}", UNIT / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def unit_tests_in(module: ModuleType, suffix: str = "") -> dict[str, Callable]:
    """The module's test functions, each under its name plus ``suffix`` (to keep names apart)."""
    return {f"{name}{suffix}": value for name, value in vars(module).items()
            if name.startswith("test_") and callable(value)}
