"""A stand-in for Rasa's socket.io channel, used ONLY to test the web widget in isolation.

Starting the real Rasa server needs a trained model (minutes), so the widget's own
browser tests talk to this small python-socketio server instead. It speaks the same
events as Rasa 3.6's ``SocketIOInput`` with ``session_persistence: true``:

* ``session_request {session_id}`` -> joins the room ``session_id`` (a fresh
  ``uuid4().hex`` when null) and emits ``session_confirm <session_id>``;
* ``user_uttered {message, session_id}`` -> replies with ``bot_uttered`` to the room,
  one event per ``\\n\\n`` paragraph, buttons as ``quick_replies`` on the last one,
  exactly like ``SocketIOOutput.send_text_with_buttons``.

Its replies are scripted (see :meth:`RasaStandIn.reply_for`); it has no NLU and no
dialogue. ``test_widget_fullstack.py`` runs the widget against the real Rasa and
action server, and is what proves the production path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

XSS_CORPUS: list[str] = [
    "<script>alert('script-tag')</script>",
    "<img src=x onerror=alert('img-onerror')>",
    "<svg onload=alert('svg')></svg> <iframe src=javascript:alert('iframe')></iframe>",
    "<a href=\"javascript:alert('raw-a')\">raw anchor</a>",
    "<details open ontoggle=alert('details')>x</details>",
    "[plain](javascript:alert('md-link'))",
    "[mixed case](JaVaScRiPt:alert('md-case'))",
    "[data](data:text/html,<script>alert('data')</script>)",
    "[entity](javascript&#58;alert('entity'))",
    "[hex entity](&#x6A;avascript:alert('hex'))",
    "[percent](%6Aavascript:alert('percent'))",
    "[vb](vbscript:msgbox('vb'))",
    "![image](x\" onerror=\"alert('md-image'))",
    "[ok link](https://example.org/rti) and [mail](mailto:trainer@example.org) stay **live**",
]

#: What Rasa's socket.io channel emits for ``bot.privacy.export_file`` (the payload's ``data``).
EXPORT_FILE = {"type": "file", "name": "my-tutor-data-2026-12-06.json", "mime_type": "application/json",
               "content": '{"learner": {"learners": [{"department": "राजस्व"}]}}'}

HINDI_REPLY = "सूचना का अधिकार अधिनियम के तहत लोक सूचना अधिकारी को **30 दिनों** के भीतर उत्तर देना होता है।"


@dataclass
class RasaStandIn:
    """Scripted socket.io server; records what the widget sent for assertions.

    Attributes:
        session_requests: ``session_id`` values received in ``session_request`` (None for new).
        confirmed: Session ids confirmed to clients, in order.
        messages: ``(session_id, message, customData)`` for every ``user_uttered``.
    """

    session_requests: list = field(default_factory=list)
    confirmed: list = field(default_factory=list)
    messages: list = field(default_factory=list)

    def build_app(self):
        """Return an aiohttp app serving the socket.io endpoint at ``/socket.io/``.

        Returns:
            ``aiohttp.web.Application``.
        """
        import socketio
        from aiohttp import web

        sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[])
        app = web.Application()
        sio.attach(app, socketio_path="/socket.io")

        @sio.on("session_request")
        async def session_request(sid, data):
            data = data or {}
            self.session_requests.append(data.get("session_id"))
            session_id = data.get("session_id") or uuid.uuid4().hex
            sio.enter_room(sid, session_id)
            self.confirmed.append(session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid, data):
            session_id = data.get("session_id")
            self.messages.append((session_id, data.get("message", ""), data.get("customData")))
            if data.get("message") == "export please":  # like action_export_my_data: summary, then the file
                await sio.emit("bot_uttered", {"text": "Here is all the data I hold about you."}, room=session_id)
                await sio.emit("bot_uttered", EXPORT_FILE, room=session_id)
                return
            for text, buttons in self.reply_for(data.get("message", "")):
                parts = text.strip().split("\n\n")
                for i, part in enumerate(parts):
                    event = {"text": part}
                    if i == len(parts) - 1 and buttons:
                        event["quick_replies"] = [
                            {"content_type": "text", "title": t, "payload": p} for t, p in buttons
                        ]
                    await sio.emit("bot_uttered", event, room=session_id)

        return app

    @staticmethod
    def reply_for(message: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """Scripted replies: a list of ``(text, [(button title, payload), ...])``."""
        if message == "xss":
            return [(item, []) for item in XSS_CORPUS]
        if message == "hindi":
            return [(HINDI_REPLY, [])]
        if message in ("/quiz_me", "/quiz_me_on_this"):
            return [
                (
                    "**Question 1 of 3:** Within how many days must a PIO normally reply to an RTI request?",
                    [
                        ("A) 30 days", '/answer_quiz{"quiz_answer":"A"}'),
                        ("B) 60 days", '/answer_quiz{"quiz_answer":"B"}'),
                    ],
                )
            ]
        if message.startswith("/answer_quiz"):
            return [("✅ **Correct!** Section 7(1) sets 30 days.", [])]
        return [
            (
                f"Here is what the course says about _{message}_:\n- A PIO must reply within **30 days**.\n"
                "- Life or liberty: within 48 hours.\n\n"
                "📖 **Source:** RTI for Public Information Officers — 3. Time limits for a reply",
                [("Show more", "/show_more"), ("Quiz me on this", "/quiz_me_on_this")],
            )
        ]
