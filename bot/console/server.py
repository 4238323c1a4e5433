"""Run the trainer console: ``python -m bot.console`` (loopback by default).

Environment: ``CONSOLE_HOST`` (default 127.0.0.1), ``CONSOLE_PORT`` (8090),
``CONSOLE_COOKIE_SECURE`` (true behind https), ``CONSOLE_SESSION_HOURS`` (12), plus the
store (``DATABASE_URL``), knowledge folder (``TUTOR_KB_DIR``) and Telegram settings.
Create the first account with ``tutor-admin add-trainer NAME --role admin``.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from bot.console.app import create_app
from bot.handoff.settings import load_human_loop_settings
from bot.wiring import get_human_loop


def main(argv: list[str] | None = None) -> None:
    """Serve the console until interrupted."""
    settings = load_human_loop_settings()
    parser = argparse.ArgumentParser(description="Serve the trainer console.")
    parser.add_argument("--host", default=settings.console_host)
    parser.add_argument("--port", type=int, default=settings.console_port)
    args = parser.parse_args(argv)
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    app = create_app(get_human_loop(), settings)
    # access_log off: URLs carry item ids only, but keep logs free of learner data by default.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
