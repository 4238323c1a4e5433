"""The scaled-mode process layout (``make run-scaled``) and its start/stop logic.

::

    browser --> nginx public door --> web page server --socket.io--+
    Telegram --> nginx public door /telegram --> bridge 1 | 2 -- REST -+--> nginx Rasa balancer
                                                   (hash of sender id) --> Rasa replica 1 | 2
    Rasa replicas --> nginx action balancer (5 s, apology) --> action server 1 | 2
    knowledge folder --watch--> indexer (one process, the only writer) --> index folder
                                (versions/ + CURRENT) <--read, follow CURRENT-- action server 1 | 2
    Rasa replicas: tracker store = PostgreSQL db "rasa", lock store = Redis
    action servers, trainer console, background worker: learner store = PostgreSQL db "learners"
    Telegram bridges: update claims, chat turns, outbox = PostgreSQL db "learners", schema "telegram"

Only the public door may listen beyond loopback. Services (PostgreSQL, Redis) are started
here from Debian's binaries unless ``external`` is set, in which case their addresses come
from the environment (``TRACKER_DB_*``, ``DATABASE_URL``, ``REDIS_*``) - the layout of
``deploy/``. Before any Rasa process starts, :meth:`ScaledStack.preflight` connects to every
database and to Redis with the configured credentials and fails loudly: Rasa's own SQL
tracker store would otherwise retry a wrong database forever and never come up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings
from bot.knowledge.watcher import HEARTBEAT_EVERY_S, HEARTBEAT_FILE, indexer_alive
from bot.runner import RASA_BIN, RASA_COMMAND, SINGLE_THREAD_ENV, free_port, wait_http
from bot.scaled.nginx import NginxLayout, render
from bot.scaled.services import NginxServer, PostgresCluster, RedisServer, ServiceError
from bot.supervisor import ChildSpec, RestartPolicy, ServiceSpec, Supervisor

PYTHON = sys.executable
ENDPOINTS = PROJECT_ROOT / "endpoints.scaled.yml"
CREDENTIALS = PROJECT_ROOT / "credentials.scaled.yml"  # REST answers 503 when a store fails


class PreflightError(RuntimeError):
    """A database or Redis is unreachable or refuses the configured credentials."""


def _secret(folder: Path, name: str) -> str:
    path = folder / name
    if path.exists():
        return path.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)  # hex: safe inside URLs and config files
    path.write_text(value)
    os.chmod(path, 0o600)
    return value


@dataclass
class Ports:
    """Every TCP port of the layout (all 127.0.0.1 except ``public`` when configured)."""

    public: int = 8080
    rasa_lb: int = 5005
    action_lb: int = 5055
    rasa: tuple[int, ...] = (5105, 5106)
    action: tuple[int, ...] = (5155, 5156)
    web: tuple[int, ...] = (8180,)
    console: int = 8090
    postgres: int = 5433
    redis: int = 6380
    telegram: tuple[int, ...] = (8443, 8444)  # webhook listeners of the two bridges
    telegram_proactive: tuple[int, ...] = (5157, 5158)  # their proactive endpoints...
    telegram_proactive_lb: int = 5056  # ...behind nginx here (TELEGRAM_PROACTIVE_PORT of the others)

    @classmethod
    def free(cls) -> Ports:
        """Free ports for every slot (tests and parallel stacks)."""
        return cls(public=free_port(), rasa_lb=free_port(), action_lb=free_port(),
                   rasa=(free_port(), free_port()), action=(free_port(), free_port()), web=(free_port(),),
                   console=free_port(), postgres=free_port(), redis=free_port(),
                   telegram=(free_port(), free_port()), telegram_proactive=(free_port(), free_port()),
                   telegram_proactive_lb=free_port())  # fmt: skip


@dataclass
class ScaledStack:
    """PostgreSQL + Redis + nginx + two Rasa replicas + two action servers + web page server.

    Args:
        root: State folder (PostgreSQL data, secrets, nginx files, logs).
        ports: Port layout.
        model: Trained Rasa model.
        env: Extra environment for the application processes (e.g. ``TUTOR_INDEX_DIR``).
        external: Use the databases and Redis named in the environment instead of
            starting them (``TRACKER_DB_HOST/PORT/NAME/USER/PASSWORD``, ``DATABASE_URL``,
            ``REDIS_HOST/PORT/PASSWORD``).
        durable: fsync PostgreSQL (off in tests).
        watch: run the indexer (``python -m bot.knowledge.watcher``) as its own process:
            the one writer of the index folder. Every action server runs ``--no-watch``
            and follows that folder's ``CURRENT`` pointer, so a trainer's edit (or a
            console FAQ answer) is served by all of them within seconds - the layout of
            the ``indexer`` Deployment and shared volume in ``deploy/``.
        index_poll_s: the indexer looks for changes this often instead of using inotify
            (None: inotify, which sees every write on one machine; a shared network
            volume needs polling).
        telegram: also start the Telegram bridges (needs ``TELEGRAM_BOT_TOKEN``): two in
            webhook mode behind nginx's ``/telegram`` when ``TELEGRAM_WEBHOOK_URL`` is set
            (Telegram allows one poller per bot), else one polling bridge. Either way their
            state is in the learner database (``TELEGRAM_STORE_URL``), their proactive
            endpoints behind one nginx port (``TELEGRAM_PROACTIVE_PORT``).
        workers: also start the trainer console (loopback) and the background worker
            (onboarding lessons, review reminders, daily retention purge); both share the
            PostgreSQL learner store with every other replica.
        action_timeout_s: nginx's wait for an action server before apologising.
        restart: when a crashed application process is restarted (alone: its replica
            twin keeps serving) and when the stack gives up (:mod:`bot.supervisor`). The
            same rules restart PostgreSQL, Redis and nginx when they die (not when a test or
            the operator stops them on purpose); their own notes go to ``logs/<name>.log``.
    """

    root: Path = PROJECT_ROOT / ".state" / "scaled"
    ports: Ports = field(default_factory=Ports)
    model: Path = PROJECT_ROOT / "models" / "tutor.tar.gz"
    env: dict[str, str] = field(default_factory=dict)
    external: bool = False
    durable: bool = True
    watch: bool = True
    telegram: bool = False
    workers: bool = True
    index_poll_s: float | None = None
    action_timeout_s: int = 5
    log_sender: bool = False
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    postgres: PostgresCluster | None = None
    redis: RedisServer | None = None
    nginx: NginxServer | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.restart, self.processes)

    # ------------------------------------------------------------------ configuration

    @property
    def log_dir(self) -> Path:
        """Where every process of the stack writes its log."""
        return self.root / "logs"

    def service_env(self) -> dict[str, str]:
        """Connection settings of the tracker database, learner database and Redis."""
        if self.external:
            names = ["TRACKER_DB_HOST", "TRACKER_DB_PORT", "TRACKER_DB_NAME", "TRACKER_DB_USER",
                     "TRACKER_DB_PASSWORD", "DATABASE_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"]
            merged = {**os.environ, **self.env}
            missing = [n for n in names if not merged.get(n)]
            if missing:
                raise PreflightError(f"external services: set {', '.join(missing)}")
            return {n: merged[n] for n in names}
        secrets_dir = self.root / "secrets"
        pg_password, redis_password = _secret(secrets_dir, "postgres_password"), _secret(secrets_dir, "redis_password")
        values = {
            "TRACKER_DB_HOST": "127.0.0.1", "TRACKER_DB_PORT": str(self.ports.postgres), "TRACKER_DB_NAME": "rasa",
            "TRACKER_DB_USER": "tutor", "TRACKER_DB_PASSWORD": pg_password,
            "DATABASE_URL": f"postgresql+psycopg://tutor:{pg_password}@127.0.0.1:{self.ports.postgres}/learners",
            "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.ports.redis), "REDIS_PASSWORD": redis_password,
        }  # fmt: skip
        # A caller (e.g. a test of a misconfigured start) may override any of them.
        values.update({k: v for k, v in self.env.items() if k in values})
        return values

    def environment(self) -> dict[str, str]:
        """Environment of every application process."""
        settings = load_settings()
        env = {**os.environ, **self.env, **self.service_env()}
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # No telemetry or crash reports (they would carry conversation data off the machine).
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        # One math thread per process: several processes share the cores, and each library's
        # own thread pool per process oversubscribes them (measured: ~3x the throughput at 4
        # concurrent learners on 2 cores, see bot/bench/load.py). Scale with replicas instead.
        for name in SINGLE_THREAD_ENV:
            env.setdefault(name, "1")
        env["ACTION_SERVER_TOKEN"] = self.env.get("ACTION_SERVER_TOKEN") or settings.action_token
        env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{self.ports.action_lb}/webhook"
        env["RASA_URL"] = f"http://127.0.0.1:{self.ports.rasa_lb}"
        # Rasa's own bound on an action call (rasa_plugins.action_apology) is only a backstop
        # here: nginx tries each replica for action_timeout_s and apologises itself.
        env.setdefault("ACTION_TIMEOUT_S", str(self.action_timeout_s * len(self.ports.action) + 5))
        env.setdefault("WEB_ALLOWED_ORIGINS",
                       f"http://127.0.0.1:{self.ports.public},http://localhost:{self.ports.public}")
        # Every bridge shares its state here, and the other processes leave their messages to
        # Telegram learners there (bot.channels.proactive_queue); the proactive endpoints stay
        # behind one nginx port for tools that call them directly.
        if not env.get("TELEGRAM_STORE_URL"):
            env["TELEGRAM_STORE_URL"] = env["DATABASE_URL"]
        env["TELEGRAM_PROACTIVE_PORT"] = str(self.ports.telegram_proactive_lb)
        return env

    def telegram_bridges(self, env: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
        """The Telegram bridge processes: name, command and environment of each.

        Args:
            env: The application environment (:meth:`environment`).

        Returns:
            Two webhook bridges when ``TELEGRAM_WEBHOOK_URL`` is set, else one polling bridge.
        """
        url = env.get("TELEGRAM_WEBHOOK_URL", "")
        count = len(self.ports.telegram) if url else 1
        bridges = []
        for index in range(count):
            command = [PYTHON, "-m", "bot.channels.telegram_bridge"]
            if url:
                command += ["--webhook", url, "--listen", "127.0.0.1", "--port", str(self.ports.telegram[index])]
            bridges.append((f"telegram-{index + 1}", command,
                            {**env, "TELEGRAM_PROACTIVE_PORT": str(self.ports.telegram_proactive[index])}))
        return bridges

    def nginx_layout(self) -> NginxLayout:
        """The nginx configuration of this stack (``/telegram`` only with webhook bridges)."""
        env = self.environment() if self.telegram else {}
        bridges = self.telegram_bridges(env) if self.telegram else []
        webhook = bool(env.get("TELEGRAM_WEBHOOK_URL"))
        return NginxLayout(self.root / "nginx", self.ports.rasa_lb, self.ports.action_lb, self.ports.public,
                           self.ports.rasa, self.ports.action, self.ports.web,
                           action_timeout_s=self.action_timeout_s, log_sender=self.log_sender,
                           telegram_ports=self.ports.telegram[:len(bridges)] if webhook else (),
                           telegram_proactive_lb_port=self.ports.telegram_proactive_lb if bridges else 0,
                           telegram_proactive_ports=self.ports.telegram_proactive[:len(bridges)])

    # ------------------------------------------------------------------ checks

    def preflight(self, env: dict[str, str] | None = None, timeout_s: int = 5) -> None:
        """Connect to both databases and Redis with the configured credentials.

        Raises:
            PreflightError: naming the service, address and the driver's error.
        """
        import psycopg

        env = env or self.service_env()
        tracker = (f"host={env['TRACKER_DB_HOST']} port={env['TRACKER_DB_PORT']} dbname={env['TRACKER_DB_NAME']} "
                   f"user={env['TRACKER_DB_USER']} connect_timeout={timeout_s}")
        checks = [("tracker database", tracker, env["TRACKER_DB_PASSWORD"])]
        from sqlalchemy.engine import make_url

        learners = make_url(env["DATABASE_URL"])
        if learners.get_backend_name() == "postgresql":
            conninfo = (f"host={learners.host} port={learners.port or 5432} dbname={learners.database} "
                        f"user={learners.username} connect_timeout={timeout_s}")
            checks.append(("learner database", conninfo, learners.password or ""))
        for what, conninfo, password in checks:
            try:
                with psycopg.connect(conninfo, password=password) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error as exc:
                where = conninfo.split(" connect_timeout")[0]
                raise PreflightError(f"scaled mode cannot use the {what} ({where}): {exc}".strip()) from exc
        redis = RedisServer(self.root, int(env["REDIS_PORT"]), env["REDIS_PASSWORD"])
        if env["REDIS_HOST"] not in ("127.0.0.1", "localhost"):
            return  # the PING helper speaks to loopback only; Rasa reports remote Redis errors itself
        if not redis.ping():
            raise PreflightError(f"scaled mode cannot use Redis at {env['REDIS_HOST']}:{env['REDIS_PORT']} "
                                 "(not running or wrong password)")

    # ------------------------------------------------------------------ processes

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start (or, when already supervised, make sure of) one application process."""
        return self.supervisor.spawn(ChildSpec(name, command, env, PROJECT_ROOT, self.log_dir / f"{name}.log"))

    def _supervise_service(self, name: str, service: PostgresCluster | RedisServer | NginxServer) -> None:
        """Have the supervisor restart ``service`` when it dies (``kill -9``, a crash), not when stopped."""
        self.supervisor.supervise(ServiceSpec(name, service.is_down, service.start, self.log_dir / f"{name}.log"))

    def start_services(self) -> None:
        """Start (or just check, when ``external``) PostgreSQL and Redis, migrate the learner store."""
        env = self.service_env()
        if not self.external:
            self.postgres = PostgresCluster(self.root / "pg", self.ports.postgres, "tutor", env["TRACKER_DB_PASSWORD"],
                                            durable=self.durable)
            if not self.postgres.init():
                self.postgres.start()
            self.redis = RedisServer(self.root / "redis", self.ports.redis, env["REDIS_PASSWORD"])
            self.redis.start()
            self._supervise_service("postgres", self.postgres)
            self._supervise_service("redis", self.redis)
        self.preflight(env)
        from bot.store.migrate import migrate

        migrate(env["DATABASE_URL"])  # once, before two action servers race to do it

    def start_action_server(self, index: int) -> subprocess.Popen:
        """Start action-server replica ``index`` (``--no-watch``: it follows the indexer's versions)."""
        env = {**self.environment(), "ACTION_PORT": str(self.ports.action[index])}
        # Never a watcher in a replica: the indexer alone writes the shared index folder.
        command = [PYTHON, "-m", "bot.action_server", "--host", "127.0.0.1", "--port", str(self.ports.action[index]),
                   "--no-watch"]
        return self._spawn(f"action-{index + 1}", command, env)

    def start_indexer(self) -> subprocess.Popen:
        """The one indexer process: re-indexes the knowledge folder, publishes versions."""
        (self.index_dir() / HEARTBEAT_FILE).unlink(missing_ok=True)  # a copied folder's, or a dead run's
        command = [PYTHON, "-m", "bot.knowledge.watcher"]
        if self.index_poll_s:
            command += ["--poll", str(self.index_poll_s)]
        return self._spawn("indexer", command, self.environment())

    def index_dir(self) -> Path:
        """The index folder every application process of this stack reads."""
        return Path(self.environment().get("TUTOR_INDEX_DIR") or load_settings().index_dir)

    def wait_indexer_ready(self, process: subprocess.Popen, timeout: float) -> None:
        """Wait until the indexer has its models loaded and watches the folder (its heartbeat).

        Until then a trainer's edit would wait for the models to load (or, before the
        observer starts, be seen only by the next full scan).

        Raises:
            RuntimeError: the indexer exited or did not report ready within ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while not indexer_alive(self.index_dir(), HEARTBEAT_EVERY_S * 3, pid=process.pid):
            if process.poll() is not None:
                raise RuntimeError(f"the indexer exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the indexer did not report ready within {timeout:g} s")
            time.sleep(0.2)

    def start_rasa(self, index: int) -> subprocess.Popen:
        """Start Rasa replica ``index`` on its loopback port with the scaled endpoints."""
        port = self.ports.rasa[index]
        return self._spawn(f"rasa-{index + 1}", [
            *RASA_COMMAND, "run", "--interface", "127.0.0.1", "--port", str(port), "--model", str(self.model),
            "--endpoints", str(ENDPOINTS), "--credentials", str(CREDENTIALS),
            "--log-file", str(self.log_dir / f"rasa-{index + 1}-debug.log"),
        ], self.environment())  # fmt: skip

    def start(self, timeout: float = 300.0) -> None:
        """Start everything and wait for every health check.

        Raises:
            PreflightError: a database or Redis is unusable (nothing else is started).
            ServiceError: PostgreSQL, Redis or nginx did not start.
            RuntimeError: an application process did not come up (everything is stopped).
        """
        if not RASA_BIN.exists():
            raise RuntimeError(f"{RASA_BIN} missing: run `make install`")
        if not self.model.exists():
            raise RuntimeError(f"no trained model at {self.model}: run `make train`")
        try:
            self.start_services()
            layout = self.nginx_layout()
            self.nginx = NginxServer(layout.root, render(layout))
            self.nginx.start()
            self._supervise_service("nginx", self.nginx)
            env = self.environment()
            indexer = self.start_indexer() if self.watch else None
            actions = [self.start_action_server(i) for i in range(len(self.ports.action))]
            rasas = [self.start_rasa(i) for i in range(len(self.ports.rasa))]
            webs = [self._spawn(f"web-{i + 1}", [PYTHON, "-m", "bot.web.server"], {**env, "WEB_PORT": str(p)})
                    for i, p in enumerate(self.ports.web)]
            if self.telegram:
                for name, command, bridge_env in self.telegram_bridges(env):
                    self._spawn(name, command, bridge_env)
            console = None
            if self.workers:
                console = self._spawn("console", [PYTHON, "-m", "bot.console", "--port", str(self.ports.console)], env)
                self._spawn("worker", [PYTHON, "-m", "bot.background_worker"], env)
            for port, process in zip(self.ports.action, actions, strict=True):
                wait_http(f"http://127.0.0.1:{port}/health", timeout, process)
            for port, process in zip(self.ports.rasa, rasas, strict=True):
                wait_http(f"http://127.0.0.1:{port}/", timeout, process)
            for port, process in zip(self.ports.web, webs, strict=True):
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout, process)
            if console is not None:
                wait_http(f"http://127.0.0.1:{self.ports.console}/healthz", timeout, console)
            if indexer is not None:
                self.wait_indexer_ready(indexer, timeout)
            self.supervisor.watch()  # from here on a crashed process is restarted, its twin serves
        except BaseException:
            self.stop()
            raise

    def signal(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send a signal to one application process's group (fault-injection tests)."""
        os.killpg(self.processes[name].pid, signum)

    def stop(self, grace: float = 10.0) -> None:
        """Stop supervising and the application processes, then nginx, Redis and PostgreSQL."""
        self.supervisor.stop(grace)
        for service in (self.nginx, self.redis):
            if service is not None:
                service.stop()
        if self.postgres is not None:
            with contextlib.suppress(ServiceError, subprocess.SubprocessError):
                self.postgres.stop()

    def __enter__(self) -> ScaledStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
