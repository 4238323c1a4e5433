"""Scaled mode's servers under ``kill -9``: PostgreSQL, Redis and nginx come back by themselves.

The real Debian binaries, started by :mod:`bot.scaled.services` exactly as ``make run-scaled``
starts them, watched by the same :class:`bot.supervisor.Supervisor` (as services: pg_ctl
detaches PostgreSQL, so it is not the supervisor's child). Each is killed the way an operator
or the kernel's OOM killer would, and must serve again without anyone restarting it by hand;
one stopped on purpose stays stopped. The scaled suite repeats the nginx and Redis kills on
the full stack with a learner's question (``tests/scaled/test_supervision_scaled.py``).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.scaled.services import NginxServer, PostgresCluster, RedisServer
from bot.supervisor import RestartPolicy, ServiceSpec, Supervisor

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FAST = RestartPolicy(max_failures=5, window_s=60, backoff_s=0.2, max_backoff_s=2.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


@pytest.fixture
def root() -> Iterator[Path]:
    missing = [b for b in ("redis-server", "nginx") if not (shutil.which(b) or Path(f"/usr/sbin/{b}").exists())]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("postgresql")
    if missing:
        pytest.fail(f"these tests need Debian packages: apt-get install -y {' '.join(missing)}")
    folder = Path(tempfile.mkdtemp(prefix="tutor-services-"))
    folder.chmod(0o755)  # PostgreSQL runs as 'postgres' when the tests run as root
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    sup = Supervisor(FAST, poll_s=0.1)
    yield sup
    sup.stop(grace=2)


def supervise(sup: Supervisor, name: str, service, root: Path) -> None:
    sup.supervise(ServiceSpec(name, service.is_down, service.start, root / "logs" / f"{name}.log"))
    sup.watch()


def nginx_config(root: Path, port: int) -> str:
    return f"""
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://unix:{root}/inner.sock; }} }}
  server {{ listen unix:{root}/inner.sock; location / {{ return 200 "served by $pid\\n"; }} }}
}}
"""


def served_by(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text.strip()
    except httpx.HTTPError:
        return None


def test_nginx_master_killed_its_workers_and_sockets_are_cleared_and_it_is_restarted(root, supervisor):
    # As in scaled mode, nginx also listens on a Unix socket (there: the REST rate limiter),
    # which a killed master leaves behind.
    port = free_port()
    nginx = NginxServer(root / "nginx", nginx_config(root / "nginx", port))
    nginx.start()
    supervise(supervisor, "nginx", nginx, root)
    assert served_by(port)
    master = nginx.process
    assert master is not None
    os.kill(master.pid, signal.SIGKILL)  # the master only: its workers are orphaned, still holding the port
    wait_until(lambda: nginx.process is not master and nginx.process is not None and nginx.process.poll() is None,
               15, "nginx restarted")
    wait_until(lambda: served_by(port) is not None, 15, "nginx serving again")
    assert "restarting" in (root / "logs" / "nginx.log").read_text()
    nginx.stop()
    time.sleep(0.5)
    assert nginx.process is None and served_by(port) is None  # stopped on purpose: stays stopped


def test_redis_killed_is_restarted_and_answers(root, supervisor):
    redis = RedisServer(root / "redis", free_port(), secrets.token_hex(8))
    redis.start()
    supervise(supervisor, "redis", redis, root)
    first = redis.process
    assert first is not None and redis.ping()
    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: redis.process is not first and redis.ping(), 15, "redis restarted and answering PING")
    redis.stop()
    time.sleep(0.5)
    assert not redis.ping()


def test_postgres_postmaster_killed_is_restarted_and_keeps_its_data(root, supervisor):
    import psycopg

    cluster = PostgresCluster(root / "pg", free_port(), "tutor", secrets.token_hex(8), databases=("learners",),
                              durable=False)
    cluster.init()
    url = f"host=127.0.0.1 port={cluster.port} dbname=learners user=tutor password={cluster.password}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE kept (v text)")
        db.execute("INSERT INTO kept VALUES ('before the kill')")
    supervise(supervisor, "postgres", cluster, root)
    pid = cluster.postmaster_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    def answers() -> bool:
        try:
            with psycopg.connect(url, connect_timeout=2) as db:
                return db.execute("SELECT v FROM kept").fetchone() == ("before the kill",)
        except psycopg.Error:
            return False

    wait_until(lambda: cluster.postmaster_pid() not in (None, pid) and answers(), 60, "PostgreSQL restarted")
    assert "restarting" in (root / "logs" / "postgres.log").read_text()
    cluster.stop()
    time.sleep(1)
    assert cluster.postmaster_pid() is None  # stopped on purpose: stays stopped
