"""Scaled mode with a Telegram token: which bridges it starts and how nginx reaches them.

The whole stack (Rasa, PostgreSQL, ...) runs in ``tests/scaled``; the bridges behind this
very nginx configuration, on a shared PostgreSQL, in ``tests/postgres/test_two_bridges_nginx.py``.
Here: the process specs and the generated configuration, which nginx itself checks (``nginx -t``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.scaled.nginx import render
from bot.scaled.stack import Ports, ScaledStack

URL = "https://tutor.example.org/telegram"


def stack(tmp_path: Path, **env: str) -> ScaledStack:
    return ScaledStack(root=tmp_path, ports=Ports.free(), telegram=True,
                       env={"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_STORE_URL": "", **env})


def nginx_accepts(conf: str, root: Path) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx not installed")
    root.mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(conf)
    check = subprocess.run([binary, "-t", "-q", "-p", str(root), "-c", str(root / "nginx.conf")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_with_a_webhook_url_two_bridges_share_the_learner_database_behind_nginx(tmp_path: Path) -> None:
    s = stack(tmp_path, TELEGRAM_WEBHOOK_URL=URL)
    env = s.environment()
    bridges = s.telegram_bridges(env)
    assert [name for name, _, _ in bridges] == ["telegram-1", "telegram-2"]
    for (_, command, bridge_env), port, proactive in zip(bridges, s.ports.telegram, s.ports.telegram_proactive,
                                                         strict=True):
        assert command[-6:] == ["--webhook", URL, "--listen", "127.0.0.1", "--port", str(port)]
        assert bridge_env["TELEGRAM_STORE_URL"] == env["DATABASE_URL"]
        assert bridge_env["TELEGRAM_STORE_URL"].startswith("postgresql")
        assert bridge_env["TELEGRAM_PROACTIVE_PORT"] == str(proactive)
    # The other processes reach "the bridge" at one port: nginx's, in front of both.
    assert env["TELEGRAM_PROACTIVE_PORT"] == str(s.ports.telegram_proactive_lb)
    conf = render(s.nginx_layout())
    for port in (*s.ports.telegram, *s.ports.telegram_proactive):
        assert f"server 127.0.0.1:{port} " in conf
    assert "location = /telegram" in conf and f"listen 127.0.0.1:{s.ports.telegram_proactive_lb};" in conf
    nginx_accepts(conf, tmp_path / "nginx")


def test_without_a_webhook_url_one_bridge_polls_and_nothing_listens_for_telegram(tmp_path: Path) -> None:
    s = stack(tmp_path, TELEGRAM_WEBHOOK_URL="")
    bridges = s.telegram_bridges(s.environment())
    assert len(bridges) == 1 and "--webhook" not in bridges[0][1]  # Telegram allows one poller per bot
    conf = render(s.nginx_layout())
    assert "location = /telegram" not in conf and "upstream telegram_proactive" in conf
    nginx_accepts(conf, tmp_path / "nginx")


def test_without_telegram_the_configuration_is_unchanged(tmp_path: Path) -> None:
    s = ScaledStack(root=tmp_path, ports=Ports.free())
    conf = render(s.nginx_layout())
    assert "upstream telegram" not in conf and "location = /telegram" not in conf
