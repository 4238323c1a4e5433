"""``make test`` installs the Debian packages it needs, or stops at once with the command to run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "system-packages.sh"


def _fake_bin(folder: Path, installed: set[str], uid: int) -> dict[str, str]:
    """A PATH where ``dpkg -s`` knows only ``installed`` and ``id -u`` prints ``uid``."""
    folder.mkdir()
    known = " ".join(sorted(installed))
    (folder / "dpkg").write_text(f'#!/bin/bash\nfor p in {known}; do [ "$2" = "$p" ] && exit 0; done\nexit 1\n')
    (folder / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    (folder / "apt-get").write_text(f'#!/bin/bash\necho "apt-get $*" >> {folder}/apt.log\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def _packages() -> list[str]:
    return subprocess.run([str(SCRIPT), "--list"], capture_output=True, text=True, check=True).stdout.split()


def test_the_list_names_every_server_the_tests_start() -> None:
    assert {"chromium", "postgresql", "redis-server", "nginx"} <= set(_packages())


def test_without_root_it_stops_with_the_one_command_to_run(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path / "bin", {"chromium", "nginx"}, uid=1000)
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, env=env)
    missing = [p for p in _packages() if p not in {"chromium", "nginx"}]
    assert done.returncode == 1
    assert f"sudo apt-get install -y --no-install-recommends {' '.join(missing)}" in done.stderr
    assert not (tmp_path / "bin" / "apt.log").exists()


def test_as_root_it_installs_only_what_is_missing(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path / "bin", set(_packages()) - {"redis-server"}, uid=0)
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "bin" / "apt.log").read_text()
    assert log.splitlines()[-1].endswith("install -y -qq --no-install-recommends redis-server")


def test_nothing_missing_means_nothing_to_do(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path / "bin", set(_packages()), uid=1000)
    assert subprocess.run([str(SCRIPT)], capture_output=True, text=True, env=env).returncode == 0
