"""Validate and canonicalise socket.io frames sent by browsers before they reach Rasa.

Rasa's socket.io channel trusts whatever the browser sends: any session id, any
event, any metadata. The page server is the only public entry point, so it lets
through only the small protocol the widget speaks (Engine.IO 4 over WebSocket,
socket.io default namespace):

* ``3``              Engine.IO pong (answer to the server's ping)
* ``40`` / ``40{..}`` socket.io CONNECT to the default namespace; the auth payload
  may carry the session ``token`` (see :mod:`bot.web.sessions`) and is never forwarded
* ``41``             socket.io DISCONNECT
* ``42["session_request", {..}]``
* ``42["user_uttered", {"message": str, "customData": {"language": ..}}]``

Events are re-serialised from the validated fields only, so extra keys (for
example arbitrary Rasa metadata) never reach the dialogue engine. Any
``session_id`` the browser sends is ignored: :meth:`ClientFrame.for_session` fills
in the id the page server bound to the connection. Anything else is rejected with
:class:`FrameRejected`.

Rasa treats a message like ``/intent{"slot": "value"}`` as that intent with those
entities, which fill slots. Such messages are only forwarded when the bot offered
exactly that payload as a button in the same session (see :class:`OfferedPayloads`);
plain ``/intent`` shortcuts carry no entities and pass, and so does the widget's own
language switch (``/choose_language{"language":"hi"}`` for any interface language of
:func:`bot.i18n.interface_languages`, see :func:`is_widget_payload`).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.i18n import is_interface_language
from bot.language import MAX_MESSAGE_CHARS

# Session ids are issued by the page server (:func:`bot.web.sessions.new_session_id`), in
# the shape Rasa itself issues (``uuid.uuid4().hex``).
SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_ENTITY_PAYLOAD_RE = re.compile(r"^\s*/[^\s{]+\s*[{\[@]")  # /intent{..}, /intent[..], /intent@0.9
# The entity payload the widget itself sends (its language switch), allowed without an offer
# when it names an interface language; exactly this shape, so no other entity rides along.
_LANGUAGE_SWITCH_RE = re.compile(r'^/choose_language\{"language": ?"([^"\\]*)"\}$')
MAX_AUTH_CHARS = 512


class FrameRejected(ValueError):
    """A browser frame that is not part of the widget's protocol."""


@dataclass(frozen=True)
class ClientFrame:
    """A validated browser frame.

    Attributes:
        wire: The text to forward upstream (events: without a session id yet).
        event: ``"connect"``, ``"session_request"``, ``"user_uttered"`` or ``""`` for
            other control frames.
        message: The user's message (``user_uttered``).
        language: ``customData.language`` when valid (``user_uttered``).
        auth: The CONNECT auth payload (``connect``); never forwarded.
    """

    wire: str
    event: str = ""
    message: str = ""
    language: str | None = None
    auth: dict = field(default_factory=dict)

    def for_session(self, session_id: str) -> str:
        """Return the wire text with ``session_id`` as the Rasa session.

        Args:
            session_id: The id the page server bound to this connection.

        Returns:
            The frame to send upstream.
        """
        if self.event == "session_request":
            return "42" + json.dumps(["session_request", {"session_id": session_id}])
        if self.event == "user_uttered":
            payload: dict = {"message": self.message, "session_id": session_id}
            if self.language:
                payload["customData"] = {"language": self.language}
            return "42" + json.dumps(["user_uttered", payload], ensure_ascii=False)
        return self.wire


def _connect(text: str) -> ClientFrame:
    auth: object = {}
    if text != "40":
        if len(text) > MAX_AUTH_CHARS:
            raise FrameRejected("auth payload too large")
        try:
            auth = json.loads(text[2:])
        except ValueError as exc:
            raise FrameRejected("malformed connect") from exc
    if not isinstance(auth, dict):
        raise FrameRejected("malformed connect")
    return ClientFrame("40", "connect", auth=auth)


def parse_client_frame(text: str) -> ClientFrame:
    """Validate one text frame from the browser and return what to forward.

    Args:
        text: The raw WebSocket text frame.

    Returns:
        The canonical frame; events still need :meth:`ClientFrame.for_session`.

    Raises:
        FrameRejected: If the frame is not part of the widget's protocol.
    """
    if text == "3":
        return ClientFrame("3")
    if text == "41":
        return ClientFrame("41")
    if text == "40" or (text.startswith("40{") and text.endswith("}")):
        return _connect(text)
    if not text.startswith("42["):
        raise FrameRejected("unsupported packet")
    try:
        packet = json.loads(text[2:])
    except ValueError as exc:
        raise FrameRejected("malformed event") from exc
    if not isinstance(packet, list) or len(packet) != 2 or not isinstance(packet[1], dict):
        raise FrameRejected("malformed event")
    name, data = packet
    if name == "session_request":
        return ClientFrame("", "session_request")
    if name == "user_uttered":
        message = data.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE_CHARS:
            raise FrameRejected("bad message")
        custom = data.get("customData")
        language = custom.get("language") if isinstance(custom, dict) else None
        return ClientFrame("", "user_uttered", message, language if is_interface_language(language) else None)
    raise FrameRejected("unsupported event")


def is_widget_payload(message: str) -> bool:
    """Whether ``message`` is the widget's own language switch to an interface language.

    Args:
        message: Text the browser wants to send.

    Returns:
        True for ``/choose_language{"language":"<code>"}`` (with or without a space after
        the colon) naming a configured interface language.
    """
    match = _LANGUAGE_SWITCH_RE.match(message)
    return match is not None and is_interface_language(match.group(1))


def needs_offer(message: str) -> bool:
    """Whether ``message`` is an intent shortcut carrying entities (or a confidence).

    Args:
        message: Text the browser wants to send.

    Returns:
        True if Rasa would parse it as ``/intent`` with entities, which must have been offered.
    """
    return bool(_ENTITY_PAYLOAD_RE.match(message))


def parse_upstream_frame(text: str) -> tuple[str, object] | None:
    """Decode a ``42[event, data]`` frame from Rasa, or None for anything else.

    Args:
        text: A text frame Rasa sent.

    Returns:
        ``(event, data)`` or None.
    """
    if not text.startswith("42["):
        return None
    try:
        packet = json.loads(text[2:])
    except ValueError:
        return None
    if isinstance(packet, list) and len(packet) >= 2 and isinstance(packet[0], str):
        return packet[0], packet[1]
    return None


class OfferedPayloads:
    """Button payloads the bot offered, per session, bounded in sessions and payloads.

    Kept per session (not per connection) so that buttons restored after a page reload
    still work; the oldest sessions are forgotten first.
    """

    def __init__(self, max_sessions: int = 10_000, max_payloads: int = 64) -> None:
        self._by_session: OrderedDict[str, list[str]] = OrderedDict()
        self.max_sessions = max_sessions
        self.max_payloads = max_payloads

    def add(self, session_id: str, payloads: list[str]) -> None:
        """Remember payloads offered to ``session_id``.

        Args:
            session_id: The Rasa session (sender) id.
            payloads: Button payloads from a ``bot_uttered`` event.
        """
        known = self._by_session.pop(session_id, [])
        known = [p for p in known if p not in payloads] + payloads
        self._by_session[session_id] = known[-self.max_payloads :]
        while len(self._by_session) > self.max_sessions:
            self._by_session.popitem(last=False)

    def allows(self, session_id: str, message: str) -> bool:
        """Whether ``message`` may be sent in ``session_id``.

        Args:
            session_id: The Rasa session (sender) id.
            message: The message text.

        Returns:
            True for ordinary text, plain ``/intent`` and the widget's own language switch;
            for other entity payloads only if offered.
        """
        if not needs_offer(message) or is_widget_payload(message):
            return True
        return message in self._by_session.get(session_id, ())


def offered_payloads(data: object) -> list[str]:
    """Button payloads in a ``bot_uttered`` event's data.

    Args:
        data: The event data Rasa sent.

    Returns:
        The ``payload`` strings of its ``quick_replies`` (or ``buttons``).
    """
    if not isinstance(data, dict):
        return []
    buttons = data.get("quick_replies") or data.get("buttons") or []
    if not isinstance(buttons, list):
        return []
    return [b["payload"] for b in buttons if isinstance(b, dict) and isinstance(b.get("payload"), str)]
