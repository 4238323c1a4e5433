"""Settings of the human loop (queue, console, live handoff), read from the environment.

Kept beside the feature rather than in :class:`bot.config.Settings` so the shared settings
object stays small; the values are documented in ``.env.example`` all the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bot.config import _env


@dataclass(frozen=True)
class HumanLoopSettings:
    """Human-loop settings. Build with :func:`load_human_loop_settings`."""

    console_enabled: bool = True
    console_host: str = "127.0.0.1"
    console_port: int = 8090
    console_public_url: str = ""
    console_cookie_secure: bool = False
    console_session_hours: float = 12.0
    trainer_chat_id: str = ""
    trainer_hours: str = "09:30-17:30"
    trainer_days: str = "mon,tue,wed,thu,fri"
    dedup_threshold: float = 0.82
    lexical_dedup_threshold: float = 0.6
    dedup_embedder: str = "minilm"
    proactive_url: str = field(default="http://127.0.0.1:5056/proactive")


def load_human_loop_settings() -> HumanLoopSettings:
    """Read the human-loop settings from the environment.

    Returns:
        A frozen :class:`HumanLoopSettings`.
    """
    port = int(_env("CONSOLE_PORT", "8090"))
    proactive_port = int(_env("TELEGRAM_PROACTIVE_PORT", "5056"))
    return HumanLoopSettings(
        console_enabled=_env("CONSOLE_ENABLED", "true").lower() in ("1", "true", "yes"),
        console_host=_env("CONSOLE_HOST", "127.0.0.1"),
        console_port=port,
        console_public_url=_env("CONSOLE_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        console_cookie_secure=_env("CONSOLE_COOKIE_SECURE", "false").lower() in ("1", "true", "yes"),
        console_session_hours=float(_env("CONSOLE_SESSION_HOURS", "12")),
        trainer_chat_id=os.environ.get("TELEGRAM_TRAINER_CHAT_ID", "").strip(),
        trainer_hours=_env("TRAINER_HOURS", "09:30-17:30"),
        trainer_days=_env("TRAINER_DAYS", "mon,tue,wed,thu,fri"),
        dedup_threshold=float(_env("HANDOFF_DEDUP_THRESHOLD", "0.82")),
        lexical_dedup_threshold=float(_env("HANDOFF_LEXICAL_DEDUP_THRESHOLD", "0.6")),
        dedup_embedder=_env("HANDOFF_DEDUP_EMBEDDER", "minilm"),
        proactive_url=f"http://127.0.0.1:{proactive_port}/proactive",
    )
