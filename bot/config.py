"""Settings, read in one place from the environment.

Every setting has a documented default (see ``.env.example``) so that ``make run``
works on a fresh clone with nothing configured. Paths are resolved relative to the
project root unless absolute.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _flag(name: str) -> bool:
    return _env(name, "false").lower() in ("1", "true", "yes")


def _state_secret(state_dir: Path, name: str) -> str:
    """Return a secret persisted under the state folder, creating it on first use.

    Used for the action-server token and the pseudonymisation salt when the operator
    has not set them: they must be stable across restarts but never committed.
    """
    path = state_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Processes starting together (make run, scaled mode) may all get here: each writes its
    # own temporary file, and the first to link it into place wins; the others read that one,
    # so every process ends up with the same secret and nobody trips over a shared temp name.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Build with :func:`load_settings`."""

    kb_dir: Path
    state_dir: Path
    index_dir: Path
    embedder: str  # comma-separated embedder names, e.g. "minilm,e5"
    rasa_url: str
    action_host: str
    action_port: int
    action_token: str = field(repr=False)
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_allowed_origins: tuple[str, ...] = ()
    web_frame_ancestors: str = "'self'"
    database_url: str = ""
    telegram_token: str = field(default="", repr=False)
    log_level: str = "INFO"
    # Telegram bridge (bot/channels): Bot API root (tests point it at a fake server),
    # webhook secret, loopback port of the proactive-message endpoint, Rasa timeout.
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_secret: str = field(default="", repr=False)
    telegram_proactive_port: int = 5056
    rasa_timeout: float = 20.0
    pseudonym_salt: str = field(default="", repr=False)
    # Web chat sessions (bot/web/sessions.py): HMAC key of the session tokens (shared by
    # every page-server replica), token lifetime, and the cookie's Secure flag (set it
    # behind an https reverse proxy; https served directly sets it anyway).
    web_session_secret: str = field(default="", repr=False)
    web_session_max_age_s: int = 30 * 24 * 3600
    web_cookie_secure: bool = False
    # Telegram bridge: per-chat message budget (burst, then messages per minute).
    telegram_rate_burst: int = 6
    telegram_rate_per_min: float = 30.0
    # Onboarding of new recruits (bot/plans): track length override (0 = each track's own
    # `days` in knowledge_base/roles) and how often the delivery worker looks for due lessons.
    onboarding_days: int = 0
    onboarding_poll_s: float = 60.0
    # Privacy (bot/privacy.py): learners inactive this many days are purged; the SQL tracker
    # store of scaled mode (from TRACKER_DATABASE_URL or TRACKER_DB_*; "" = in-memory tracker).
    retention_days: int = 365
    tracker_db_url: str = field(default="", repr=False)
    # Web chat socket limits (bot/web/server.py). A "client" is the peer address, or the last
    # X-Forwarded-For entry when the peer is a trusted reverse proxy. Message budgets are kept
    # per session and per client (burst, then messages per second), so reconnecting does not
    # refill them.
    web_max_connections: int = 500
    web_max_connections_per_client: int = 30
    web_rate_burst: int = 8
    web_rate_per_s: float = 1.0
    web_client_rate_burst: int = 40
    web_client_rate_per_s: float = 4.0
    web_trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Client addresses in the page server's access log (off: request line, status, size, time).
    web_access_log_ips: bool = False
    # Telegram outbox (bot/channels/outbox.py): how long an undelivered reply is retried.
    telegram_outbox_expiry_s: float = 24 * 3600.0
    # Telegram bridge state (bot/channels/bridge_tables.py): update claims, chat map, chat turns,
    # outbox. SQLite file by default; scaled mode points every bridge at the shared PostgreSQL.
    telegram_store_url: str = field(default="", repr=False)
    # Public HTTPS URL Telegram posts updates to (scaled mode: webhook bridges behind nginx's
    # public door at /telegram); empty: the bridge long-polls.
    telegram_webhook_url: str = ""


def load_settings() -> Settings:
    """Read settings from the environment.

    Returns:
        A frozen :class:`Settings`.
    """
    state_dir = _path(_env("TUTOR_STATE_DIR", ".state"))
    token = os.environ.get("ACTION_SERVER_TOKEN") or _state_secret(state_dir, "action_token")
    web_port = int(_env("WEB_PORT", "8080"))
    origins = _env("WEB_ALLOWED_ORIGINS", f"http://127.0.0.1:{web_port},http://localhost:{web_port}")
    return Settings(
        kb_dir=_path(_env("TUTOR_KB_DIR", "knowledge_base")),
        state_dir=state_dir,
        index_dir=_path(_env("TUTOR_INDEX_DIR", str(state_dir / "index"))),
        embedder=_env("TUTOR_EMBEDDERS", "minilm,e5"),
        rasa_url=_env("RASA_URL", "http://127.0.0.1:5005").rstrip("/"),
        action_host=_env("ACTION_HOST", "127.0.0.1"),
        action_port=int(_env("ACTION_PORT", "5055")),
        action_token=token,
        web_host=_env("WEB_HOST", "127.0.0.1"),
        web_port=web_port,
        web_allowed_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        web_frame_ancestors=_env("WEB_FRAME_ANCESTORS", "'self'"),
        database_url=_env("DATABASE_URL", f"sqlite:///{state_dir / 'learners.db'}"),
        telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN", ""),
        log_level=_env("LOG_LEVEL", "INFO"),
        telegram_api_base_url=_env("TELEGRAM_API_BASE_URL", "https://api.telegram.org").rstrip("/"),
        telegram_webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET", ""),
        telegram_proactive_port=int(_env("TELEGRAM_PROACTIVE_PORT", "5056")),
        rasa_timeout=float(_env("RASA_TIMEOUT", "20")),
        pseudonym_salt=os.environ.get("TUTOR_PSEUDONYM_SALT") or _state_secret(state_dir, "pseudonym_salt"),
        web_session_secret=os.environ.get("WEB_SESSION_SECRET") or _state_secret(state_dir, "web_session_secret"),
        web_session_max_age_s=int(float(_env("WEB_SESSION_MAX_AGE_DAYS", "30")) * 86400),
        web_cookie_secure=_flag("WEB_COOKIE_SECURE"),
        telegram_rate_burst=int(_env("TELEGRAM_RATE_BURST", "6")),
        telegram_rate_per_min=float(_env("TELEGRAM_RATE_PER_MIN", "30")),
        onboarding_days=int(_env("ONBOARDING_DAYS", "0")),
        onboarding_poll_s=float(_env("ONBOARDING_POLL_S", "60")),
        retention_days=int(_env("TUTOR_RETENTION_DAYS", "365")),
        tracker_db_url=_tracker_db_url(),
        web_max_connections=int(_env("WEB_MAX_CONNECTIONS", "500")),
        web_max_connections_per_client=int(_env("WEB_MAX_CONNECTIONS_PER_CLIENT", "30")),
        web_rate_burst=int(_env("WEB_RATE_BURST", "8")),
        web_rate_per_s=float(_env("WEB_RATE_PER_S", "1")),
        web_client_rate_burst=int(_env("WEB_CLIENT_RATE_BURST", "40")),
        web_client_rate_per_s=float(_env("WEB_CLIENT_RATE_PER_S", "4")),
        web_trusted_proxies=tuple(p.strip() for p in _env("WEB_TRUSTED_PROXIES", "127.0.0.1,::1").split(",")
                                  if p.strip()),
        web_access_log_ips=_flag("WEB_ACCESS_LOG_IPS"),
        telegram_outbox_expiry_s=float(_env("TELEGRAM_OUTBOX_EXPIRY_HOURS", "24")) * 3600.0,
        telegram_store_url=_env("TELEGRAM_STORE_URL", f"sqlite:///{state_dir / 'telegram.db'}"),
        telegram_webhook_url=os.environ.get("TELEGRAM_WEBHOOK_URL", ""),
    )


def _tracker_db_url() -> str:
    """SQLAlchemy URL of Rasa's SQL tracker store, from the variables ``endpoints.scaled.yml`` uses."""
    if os.environ.get("TRACKER_DATABASE_URL"):
        return os.environ["TRACKER_DATABASE_URL"]
    host = os.environ.get("TRACKER_DB_HOST")
    if not host:
        return ""
    from sqlalchemy.engine import URL  # lazy: only scaled mode needs it

    return URL.create("postgresql+psycopg", username=os.environ.get("TRACKER_DB_USER"),
                      password=os.environ.get("TRACKER_DB_PASSWORD"), host=host,
                      port=int(os.environ.get("TRACKER_DB_PORT") or 5432),
                      database=os.environ.get("TRACKER_DB_NAME") or "rasa").render_as_string(hide_password=False)
