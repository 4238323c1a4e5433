"""``make run-scaled``: start the scaled layout on this machine and stop it on Ctrl-C.

Usage::

    python -m bot.scaled [--external] [--public-port 8080]

``--external`` uses existing PostgreSQL/Redis named in the environment (see
:class:`bot.scaled.stack.ScaledStack`) instead of starting Debian's binaries.
"""

from __future__ import annotations

import argparse
import signal
import sys

from bot.config import load_settings
from bot.scaled.services import ServiceError
from bot.scaled.stack import Ports, PreflightError, ScaledStack
from bot.supervisor import run_until_stopped


def main(argv: list[str] | None = None) -> int:
    """Start scaled mode and supervise it until interrupted (``make run-scaled``); returns the exit status."""
    parser = argparse.ArgumentParser(description="Run the tutor in scaled mode (PostgreSQL, Redis, nginx, 2+2 replicas).")
    parser.add_argument("--external", action="store_true", help="use the databases and Redis named in the environment")
    parser.add_argument("--public-port", type=int, default=load_settings().web_port)
    args = parser.parse_args(argv)
    from bot.logging_setup import configure_logging

    configure_logging()
    settings = load_settings()
    stack = ScaledStack(ports=Ports(public=args.public_port), external=args.external,
                        telegram=bool(settings.telegram_token))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print("Starting scaled mode (two Rasa replicas take about a minute)...", flush=True)
    try:
        stack.start()
        p = stack.ports
        telegram = ""
        if stack.telegram:
            bridges = [name for name, _, _ in stack.telegram_bridges(stack.environment())]
            door = f"{settings.telegram_webhook_url} -> /telegram on the public door" if len(bridges) > 1 else "polling"
            telegram = f"    Telegram bridges ({door}):  {', '.join(bridges)}\n"
        print(f"""
  The tutor is running in scaled mode.
    Web chat page (through nginx):   http://localhost:{p.public}/
    Rasa balancer (loopback, REST):  http://127.0.0.1:{p.rasa_lb}/webhooks/rest/webhook  -> {p.rasa}
    Action balancer (loopback):      http://127.0.0.1:{p.action_lb}/webhook  -> {p.action}
    Indexer (one process):           {settings.kb_dir} -> {settings.index_dir} (every action server reads it)
    Trainer console (loopback):      http://127.0.0.1:{p.console}/
{telegram}    PostgreSQL 127.0.0.1:{p.postgres} (rasa, learners), Redis 127.0.0.1:{p.redis}
    Logs: {stack.log_dir}   Press Ctrl-C to stop.
""", flush=True)
        # A crashed process is restarted alone (its twin replica serves meanwhile); only a
        # crash loop ends the run, with status 1.
        return run_until_stopped(stack.supervisor)
    except KeyboardInterrupt:
        return 0
    except (PreflightError, ServiceError, RuntimeError) as exc:
        print(f"could not start scaled mode: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
