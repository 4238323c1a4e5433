"""Validate and canonicalise socket.io frames sent by browsers before they reach Rasa.

Rasa's socket.io channel trusts whatever the browser sends: any session id, any
event, any metadata. The page server is the only public entry point, so it lets
through only the small protocol the widget speaks (Engine.IO 4 over WebSocket,
socket.io default namespace):

* ``3``              Engine.IO pong (answer to the server's ping)
* ``40`` / ``40{}``  socket.io CONNECT to the default namespace (auth payload dropped)
* ``41``             socket.io DISCONNECT
* ``42["session_request", {"session_id": <id or null>}]``
* ``42["user_uttered", {"message": str, "session_id": <id>, "customData": {"language": ..}}]``

Events are re-serialised from the validated fields only, so extra keys (for
example arbitrary Rasa metadata) never reach the dialogue engine. Anything else
is rejected with :class:`FrameRejected`.

Rasa treats a message like ``/intent{"slot": "value"}`` as that intent with those
entities, which fill slots. Such messages are only forwarded when the bot offered
exactly that payload as a button in the same session (see :class:`OfferedPayloads`);
plain ``/intent`` shortcuts carry no entities and pass.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 2000
# Rasa issues ``uuid.uuid4().hex`` when the browser asks for a new session; the widget
# only ever stores ids Rasa issued. Requiring exactly that shape keeps web senders
# unguessable and stops a browser claiming another channel's sender id (e.g. Telegram).
SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
LANGUAGES = frozenset({"en", "hi"})
_ENTITY_PAYLOAD_RE = re.compile(r"^\s*/[^\s{]+\s*[{\[@]")  # /intent{..}, /intent[..], /intent@0.9


class FrameRejected(ValueError):
    """A browser frame that is not part of the widget's protocol."""


@dataclass(frozen=True)
class ClientFrame:
    """A validated browser frame.

    Attributes:
        wire: The text to forward upstream.
        event: ``"session_request"``, ``"user_uttered"`` or ``""`` for control frames.
    """

    wire: str
    event: str = ""
    session_id: str | None = None
    message: str = ""


def _session_id(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if isinstance(value, str) and SESSION_ID_RE.match(value):
        return value
    raise FrameRejected("bad session id")


def _event(name: str, payload: dict) -> ClientFrame:
    wire = "42" + json.dumps([name, payload], ensure_ascii=False)
    return ClientFrame(wire, name, payload.get("session_id"), payload.get("message", ""))


def parse_client_frame(text: str) -> ClientFrame:
    """Validate one text frame from the browser and return what to forward.

    Args:
        text: The raw WebSocket text frame.

    Returns:
        The canonical frame to send to Rasa.

    Raises:
        FrameRejected: If the frame is not part of the widget's protocol.
    """
    if text == "3":
        return ClientFrame("3")
    if text == "41":
        return ClientFrame("41")
    if text == "40" or (text.startswith("40{") and text.endswith("}")):
        # The auth payload is dropped: Rasa's channel has no use for it here.
        return ClientFrame("40")
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
        return _event("session_request", {"session_id": _session_id(data.get("session_id"), required=False)})
    if name == "user_uttered":
        message = data.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE_CHARS:
            raise FrameRejected("bad message")
        payload: dict = {"message": message, "session_id": _session_id(data.get("session_id"), required=True)}
        custom = data.get("customData")
        if isinstance(custom, dict) and custom.get("language") in LANGUAGES:
            payload["customData"] = {"language": custom["language"]}
        return _event("user_uttered", payload)
    raise FrameRejected("unsupported event")


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
            True for ordinary text and plain ``/intent``; for entity payloads only if offered.
        """
        return not needs_offer(message) or message in self._by_session.get(session_id, ())


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
