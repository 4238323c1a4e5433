"""The action server: rasa_sdk's app with authentication, on loopback.

Usage::

    python -m bot.action_server [--host 127.0.0.1] [--port 5055] [--no-watch]

rasa_sdk has no authentication of its own and its error responses echo the request
body (the whole tracker), so this wrapper:

- rejects every call to ``/webhook`` without ``Authorization: Bearer <token>``
  (the token Rasa sends from ``endpoints.yml``; compared in constant time) with 401;
- replaces 5xx bodies with a generic error, so no learner data leaks into logs or
  responses;
- listens on loopback by default;
- warms up the retriever (loads the index and embedders) before taking traffic, and
  runs the knowledge-folder watcher so trainers' edits go live without a restart.

With ``--no-watch`` (every replica in scaled mode and in ``deploy/``) it only reads: one
indexer process (``python -m bot.knowledge.watcher``) writes the shared index folder, and
the retriever follows its ``CURRENT`` pointer, swapping to each new version within a second
or two of its publication, without a restart.
"""

from __future__ import annotations

import argparse
import hmac
import logging

from bot.config import Settings, load_settings

log = logging.getLogger("bot.action_server")


def create_app(settings: Settings, warm_up: bool = True, watch: bool = True):
    """Build the authenticated Sanic app serving the actions in ``actions/``.

    Args:
        settings: runtime settings (token, paths).
        warm_up: load the index and models before serving.
        watch: re-index the knowledge folder on change.

    Returns:
        The Sanic app.
    """
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from rasa_sdk.executor import ActionExecutor
    from sanic import response

    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_sdk_app(executor, cors_origins=[])
    expected = f"Bearer {settings.action_token}".encode()

    @app.on_request
    async def authenticate(request):
        if request.path == "/health":
            return None
        supplied = (request.headers.get("authorization") or "").encode()
        if not hmac.compare_digest(supplied, expected):
            log.warning("refused unauthenticated call to %s from %s", request.path, request.ip)
            return response.json({"error": "unauthorized"}, status=401)
        return None

    @app.on_response
    async def hide_errors(request, resp):
        if resp.status >= 500:
            log.error("action server error %s on %s (body withheld)", resp.status, request.path)
            return response.json({"error": "internal error"}, status=resp.status)
        return None

    @app.before_server_start
    async def start_services(app_, _loop):
        if warm_up:
            _warm_up()
        if watch:
            from bot.wiring import knowledge_watcher  # re-indexes with the retriever's embedders: MiniLM once

            watcher = knowledge_watcher(settings.kb_dir, settings.index_dir, settings.embedder)
            watcher.start()
            app_.ctx.kb_watcher = watcher

    @app.after_server_stop
    async def stop_services(app_, _loop):
        watcher = getattr(app_.ctx, "kb_watcher", None)
        if watcher is not None:
            watcher.stop()

    return app


def _warm_up() -> None:
    from bot.wiring import get_retriever

    try:
        retriever = get_retriever()
        retriever.search("warm up", k=1)
        log.info("retriever ready: index %s", retriever.index.version)
    except Exception as exc:  # serve anyway: actions answer with a clear error
        log.error("knowledge index not ready (%s); answers will fail until `kb ingest` runs", exc)
    try:  # the learner store too: its first use (migration check) takes seconds on a busy machine
        from bot.wiring import get_quizzes

        get_quizzes()
    except Exception as exc:  # serve anyway: quiz actions fail (and nginx apologises in scaled mode)
        log.error("learner store not ready (%s)", type(exc).__name__)


def main() -> None:
    """Parse the command line and serve the actions until stopped (``python -m bot.action_server``)."""
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.action_host)
    parser.add_argument("--port", type=int, default=settings.action_port)
    parser.add_argument("--no-watch", action="store_true", help="do not watch the knowledge folder")
    args = parser.parse_args()
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    for noisy in ("sentence_transformers", "faiss", "transformers", "sanic.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(settings, watch=not args.no_watch)
    log.info("action server on http://%s:%d/webhook", args.host, args.port)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
