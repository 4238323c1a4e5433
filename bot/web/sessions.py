"""Server-issued web chat sessions: random ids carried in HMAC-signed tokens.

Rasa's socket.io channel uses whatever ``session_id`` the browser sends as the
conversation (sender) id, so a browser that knows another learner's id could join
that conversation. The page server therefore issues the session itself:

* ``POST /session`` draws a random id (128 bits) and returns a *token*
  ``v1.<id>.<issued, hex seconds>.<signature>``; the signature is HMAC-SHA256 over
  the version, id and issue time with a server secret, so a token for an id can only
  come from this server. The same token is set as an ``HttpOnly``, ``SameSite=Strict``
  cookie for same-site pages; a widget embedded cross-site (where third-party cookies
  are blocked) keeps the token in ``localStorage`` and sends it in the socket.io
  CONNECT ``auth`` payload.
* The socket.io proxy binds each connection to the id inside a valid token (or
  cookie) and overwrites every ``session_id`` the browser sends with it.

Knowing another learner's raw id (it appears in ``session_confirm``) is useless:
ids sent by the browser are ignored, and a token for that id cannot be forged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

TOKEN_VERSION = "v1"
COOKIE_NAME = "tutor_session"
DEFAULT_MAX_AGE_S = 30 * 24 * 3600
_TOKEN_RE = re.compile(r"^v1\.([0-9a-f]{32})\.([0-9a-f]{1,12})\.([A-Za-z0-9_-]{43})$")


def new_session_id() -> str:
    """Return a fresh, unguessable session id (32 hex digits, the shape Rasa issues).

    Returns:
        128 random bits as lowercase hex.
    """
    return secrets.token_hex(16)


class SessionSigner:
    """Issue and verify session tokens.

    Args:
        secret: Server secret (``Settings.web_session_secret``); every page-server
            replica behind one load balancer must share it.
        max_age_s: How long a token stays valid after it was issued; the widget asks
            for a fresh token for the same id on every page load, so only a learner
            away for longer than this starts a new conversation.

    Raises:
        ValueError: If the secret is empty.
    """

    def __init__(self, secret: str, max_age_s: int = DEFAULT_MAX_AGE_S) -> None:
        if not secret:
            raise ValueError("a web session secret is required")
        self._key = hashlib.sha256(b"tutor-web-session|" + secret.encode()).digest()
        self.max_age_s = max_age_s

    def _signature(self, session_id: str, issued: str) -> str:
        mac = hmac.new(self._key, f"{TOKEN_VERSION}|{session_id}|{issued}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def issue(self, session_id: str, now: float | None = None) -> str:
        """Return a token for ``session_id``.

        Args:
            session_id: An id from :func:`new_session_id` (or a verified token).
            now: Issue time (seconds since the epoch); defaults to the current time.

        Returns:
            The token ``v1.<id>.<issued>.<signature>``.

        Raises:
            ValueError: If ``session_id`` is not 32 lowercase hex digits.
        """
        if not re.fullmatch(r"[0-9a-f]{32}", session_id):
            raise ValueError("bad session id")
        issued = format(int(time.time() if now is None else now), "x")
        return f"{TOKEN_VERSION}.{session_id}.{issued}.{self._signature(session_id, issued)}"

    def verify(self, token: object, now: float | None = None) -> str | None:
        """Return the session id inside a valid, unexpired token, else None.

        Args:
            token: Whatever the browser sent.
            now: Current time (tests).

        Returns:
            The session id, or None for anything forged, altered, expired or malformed.
        """
        if not isinstance(token, str) or len(token) > 128:
            return None
        match = _TOKEN_RE.match(token)
        if match is None:
            return None
        session_id, issued, signature = match.groups()
        # Constant-time comparison: timing must not reveal how much of a guess was right.
        if not hmac.compare_digest(signature, self._signature(session_id, issued)):
            return None
        age = (time.time() if now is None else now) - int(issued, 16)
        if age > self.max_age_s or age < -300:  # small allowance for clock skew across replicas
            return None
        return session_id
