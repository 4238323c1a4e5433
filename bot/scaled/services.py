"""Debian's PostgreSQL, Redis and nginx as child services on loopback.

Each class owns one server process started from the Debian binaries (no systemd: the
machines here and in CI have none). Used by ``make run-scaled`` (persistent folder under
``.state/scaled``) and by the ``scaled`` tests (a temporary folder).

When running as root, PostgreSQL runs as the ``postgres`` user (initdb refuses root).

Each server remembers whether its owner wants it running (``start`` sets that, ``stop``
clears it), so :meth:`is_down` tells a crash or a ``kill -9`` from a deliberate stop: the
scaled stack's supervisor restarts a server that is down (:class:`bot.supervisor.ServiceSpec`),
and a test that stops one on purpose keeps it stopped. ``start`` and ``stop`` hold a lock, so
the supervisor's thread and the owner never start two copies.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    """A service binary is missing or a server did not start."""


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise ServiceError("PostgreSQL binaries not found: apt-get install -y postgresql")
    return Path(found[-1]).parent


def _run_as_postgres() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError("no 'postgres' user: install Debian's postgresql package") from exc
    return ["runuser", "-u", "postgres", "--"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody has reaped yet does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in ``root`` with password (SCRAM) authentication.

    Args:
        root: Folder for the data directory, socket and log (created if missing).
        port: TCP port on 127.0.0.1.
        user / password: Application role created on first start (owner of ``databases``).
        databases: Databases created on first start.
        durable: ``False`` switches fsync off (tests: faster, data is thrown away).
    """

    root: Path
    port: int
    user: str
    password: str
    databases: tuple[str, ...] = ("rasa", "learners")
    durable: bool = True
    _bin: Path = field(default_factory=_postgres_bin, repr=False)
    wanted: bool = field(default=False, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    @property
    def data(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "server.log"

    def url(self, database: str, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of one database for the application role."""
        return f"postgresql+{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _pg(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*_run_as_postgres(), *args], capture_output=True, text=True, timeout=timeout)

    def init(self) -> bool:
        """Create the cluster, role and databases unless they exist.

        Returns:
            True if a new cluster was created.
        """
        if (self.data / "PG_VERSION").exists():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        if _run_as_postgres():
            shutil.chown(self.root, "postgres", "postgres")
        superpw = self.root / "superuser.pw"
        superpw.write_text(os.urandom(16).hex())
        os.chmod(superpw, 0o600)
        if _run_as_postgres():
            shutil.chown(superpw, "postgres", "postgres")
        done = self._pg(str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                        f"--pwfile={superpw}", "-E", "UTF8", "--locale=C.UTF-8", *([] if self.durable else ["--no-sync"]))
        if done.returncode != 0:
            raise ServiceError(f"initdb failed: {done.stderr[-1500:]}")
        self.start()
        # Local socket, peer... no: the cluster uses SCRAM everywhere, so pass the superuser password.
        env_pw = superpw.read_text()
        statements = [f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'"]
        statements += [f"CREATE DATABASE {db} OWNER {self.user}" for db in self.databases]
        for sql in statements:
            result = subprocess.run(
                [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-c", sql],
                capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": env_pw},
            )  # fmt: skip
            if result.returncode != 0:
                raise ServiceError(f"{sql.split(' PASSWORD')[0]} failed: {result.stderr[-500:]}")
        return True

    def start(self) -> None:
        """Start the server (no-op if it is running); waits until it accepts connections."""
        with self._lock:
            self.wanted = True
            if not self.running():
                self._start()

    def _start(self) -> None:
        options = f"-k {self.root} -h 127.0.0.1 -p {self.port}" + ("" if self.durable else " -F")
        done = self._pg(str(self._bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                        "-w", "-t", "60", "start", timeout=90)
        if done.returncode != 0:
            tail = self.log.read_text()[-1500:] if self.log.exists() else done.stderr
            raise ServiceError(f"PostgreSQL did not start: {tail}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart | fast | immediate)."""
        with self._lock:
            self.wanted = False
            if self.running():
                self._pg(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", timeout=60)

    def restart(self) -> None:
        """Fast restart: every client connection is cut."""
        with self._lock:
            self.stop("fast")
            self.start()

    def running(self) -> bool:
        """Whether the cluster's server is up (``pg_ctl status``)."""
        return self.data.exists() and self._pg(str(self._bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def postmaster_pid(self) -> int | None:
        """The server's process id from ``postmaster.pid``, if it is alive (fault-injection tests)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def is_down(self) -> bool:
        """Meant to run and not running. Cheap (a file and ``/proc``): the supervisor asks often.

        pg_ctl detaches the server, so it is not our child: its pid file says which process to look at.
        """
        with self._lock:
            return self.wanted and self.postmaster_pid() is None


@dataclass
class RedisServer:
    """``redis-server`` on 127.0.0.1 with a password and no persistence (locks only).

    Args:
        root: Folder for its log.
        port: TCP port.
        password: ``requirepass``.
    """

    root: Path
    port: int
    password: str
    process: subprocess.Popen | None = None
    wanted: bool = field(default=False, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def start(self, timeout: float = 20) -> None:
        """Start redis-server on loopback with its password and wait until it answers (no-op if it runs).

        Raises:
            ServiceError: redis-server is missing or does not come up within ``timeout`` seconds.
        """
        with self._lock:
            self.wanted = True
            if self.process is not None and self.process.poll() is None:
                return
            _kill_group(self.process)
            self._start(timeout)

    def is_down(self) -> bool:
        """Meant to run and its process has exited."""
        with self._lock:
            return self.wanted and (self.process is None or self.process.poll() is not None)

    def _start(self, timeout: float) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError("redis-server not found: apt-get install -y redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        config = "\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"requirepass {self.password}", 'save ""', "appendonly no",
            "protected-mode yes", f"dir {self.root}", f"logfile {self.root / 'redis.log'}", "daemonize no",
        ]) + "\n"  # fmt: skip
        conf = self.root / "redis.conf"
        conf.write_text(config)
        os.chmod(conf, 0o600)  # holds the password
        self.process = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"redis-server exited: see {self.root / 'redis.log'}")
            if self.ping():
                return
            time.sleep(0.2)
        raise ServiceError("redis-server did not answer PING")

    def ping(self) -> bool:
        """True when the server answers an authenticated PING."""
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                data = b""
                while b"PONG" not in data and len(data) < 200:
                    chunk = sock.recv(100)
                    if not chunk:
                        break
                    data += chunk
                return b"+PONG" in data
        except OSError:
            return False

    def stop(self) -> None:
        """Stop redis-server (SIGTERM, then SIGKILL after 10 s)."""
        with self._lock:
            self.wanted = False
            _stop_group(self.process, signal.SIGTERM)
            self.process = None


@dataclass
class NginxServer:
    """nginx in the foreground with a generated configuration (see :mod:`bot.scaled.nginx`).

    Args:
        root: Folder for the config, pid, logs and temp files.
        config: The full nginx.conf text.
    """

    root: Path
    config: str
    process: subprocess.Popen | None = None
    wanted: bool = field(default=False, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def start(self) -> None:
        """Write the configuration, check it and start nginx (no-op if it runs).

        A master killed with ``kill -9`` leaves its workers serving and holding the ports: they
        are in its process group, which is ended first. It also leaves its Unix sockets behind
        (the REST rate limiter's), which would make every new master fail to bind: they are
        removed from nginx's own folder once nothing of the old one is left.

        Raises:
            ServiceError: nginx is missing, refuses the configuration or exits at start.
        """
        with self._lock:
            self.wanted = True
            if self.process is not None and self.process.poll() is None:
                return
            _kill_group(self.process)
            for stale in self.root.glob("*.sock"):  # nothing when the folder does not exist yet
                stale.unlink(missing_ok=True)
            self._start()

    def is_down(self) -> bool:
        """Meant to run and its master process has exited."""
        with self._lock:
            return self.wanted and (self.process is None or self.process.poll() is not None)

    def _start(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise ServiceError("nginx not found: apt-get install -y nginx")
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(self.config)
        os.chmod(conf, 0o600)  # holds the action token check
        check = subprocess.run([binary, "-t", "-q", "-p", str(self.root), "-c", str(conf)], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise ServiceError(f"nginx configuration rejected: {check.stderr[-1500:]}")
        self.process = subprocess.Popen([binary, "-p", str(self.root), "-c", str(conf), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)
        if self.process.poll() is not None:
            raise ServiceError(f"nginx exited: see {self.root / 'error.log'}")

    def stop(self) -> None:
        """Stop nginx gracefully (SIGQUIT lets open requests finish)."""
        with self._lock:
            self.wanted = False
            _stop_group(self.process, signal.SIGQUIT)
            _kill_group(self.process)  # workers that outlived a killed master
            self.process = None


def _stop_group(process: subprocess.Popen | None, signum: int, grace: float = 10) -> None:
    """Send ``signum`` to a running server's process group; SIGKILL it after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signum)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _kill_group(process: subprocess.Popen | None, wait_s: float = 5) -> None:
    """End what is left of an exited server's process group (nginx workers outlive a killed master,
    holding its ports) and wait until it is gone, so the new server can bind them."""
    if process is None:
        return
    deadline = time.monotonic() + wait_s
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
        while time.monotonic() < deadline:
            os.killpg(process.pid, 0)  # ProcessLookupError once no process of the group is left
            time.sleep(0.05)
