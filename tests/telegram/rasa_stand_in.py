"""A small stand-in for Rasa's REST channel, to test the Telegram bridge in isolation.

It serves ``POST /webhooks/rest/webhook`` on loopback like Rasa's REST channel does
(``{"sender", "message"}`` in, a JSON list of ``{"recipient_id", "text", "buttons"}``
out), records what it receives, and answers deterministically so the bridge's formatting,
buttons, ordering and failure handling can be asserted. It knows no dialogue: the
full-stack test against the real Rasa server lives with the integration tests.

A test can set :attr:`RasaStandIn.responder` to answer with something else, e.g. the
real quiz actions on a real learner store (``test_quiz_polls.py``).

Switch it off with :meth:`RasaStandIn.stop` (connection refused) or ``available = False``
(HTTP 503) to test the bridge's apology.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

LONG_PARAGRAPH = (
    "Under **Section 7** of the RTI Act a public information officer must reply within "
    "thirty days. An appeal lies to the first appellate authority. "
) * 12
EXPORT_JSON = '{"learner": {"learners": [{"department": "राजस्व"}]}, "human_loop": {"question_log": []}}'
QUIZ_PAYLOAD = '/answer_quiz{"quiz_answer":"B","quiz_id":"rti-time-limits-question-0001-long-id"}'


def reply_for(message: str) -> list[dict[str, Any]]:
    """The deterministic reply (without ``recipient_id``) to a message."""
    if message == "/greet":
        return [
            {
                "text": "Namaste! I am your **course tutor**.",
                "buttons": [{"title": "Quiz me", "payload": "/quiz_me"}],
            }
        ]
    if message == "/show_progress":
        return []  # like a Rasa model that does not know the intent yet: nothing to say
    if message == "html please":
        return [{"text": "<b>x</b> & <script>alert(1)</script>"}]
    if message == "long please":
        return [{"text": "\n\n".join([LONG_PARAGRAPH] * 8)}]  # about 14,000 characters
    if message == "quiz please":
        return [
            {
                "text": "Within how many days must a PIO reply?",
                "buttons": [
                    {"title": "A) 15 days", "payload": QUIZ_PAYLOAD.replace('"B"', '"A"')},
                    {"title": "B) 30 days", "payload": QUIZ_PAYLOAD},
                    {"title": "Show more", "payload": "/show_more"},
                ],
            }
        ]
    if message == "export please":  # what action_export_my_data sends: a summary, then the file
        return [{"text": "Here is all the data I hold about you (2 records), attached as JSON."},
                {"custom": {"data": {"type": "file", "name": "my-tutor-data-2026-12-06.json",
                                     "mime_type": "application/json", "content": EXPORT_JSON}}}]
    return [{"text": f"You said: {message}"}]


class RasaStandIn:
    """The stand-in server.

    Attributes:
        received: ``(sender, message, monotonic time)`` in arrival order.
        delays: Seconds to wait before answering a given message (ordering tests).
        available: When false, answer 503 like a Rasa that is failing.
        responder: ``async (sender, message) -> replies`` used instead of :func:`reply_for`.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str, float]] = []
        self.delays: dict[str, float] = {}
        self.available = True
        self.responder: Callable[[str, str], Awaitable[list[dict[str, Any]]]] | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Server root, as ``RASA_URL``."""
        return f"http://127.0.0.1:{self.port}"

    def messages(self) -> list[str]:
        """Messages received, in order."""
        return [message for _, message, _ in self.received]

    async def start(self, port: int = 0) -> None:
        """Listen on loopback (a free port unless given, e.g. to restart on the same one)."""
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening: the bridge now gets connection refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, message = body["sender"], body["message"]
        self.received.append((sender, message, time.monotonic()))
        if not self.available:
            return web.json_response({"error": "stand-in switched off"}, status=503)
        await asyncio.sleep(self.delays.get(message, 0.0))
        replies = await self.responder(sender, message) if self.responder else reply_for(message)
        return web.json_response([{"recipient_id": sender, **r} for r in replies])
