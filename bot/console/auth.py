"""Console sessions, CSRF tokens and login throttling (in memory, one console process).

A session id is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the
server keeps ``id -> (user, role, csrf token, expiry)``. Every POST must carry the
session's CSRF token in a form field (the login form uses a double-submit cookie).
Restarting the console logs everybody out, which is acceptable for a trainers' tool.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass

SESSION_COOKIE = "tutor_console"
LOGIN_CSRF_COOKIE = "tutor_console_login"
#: Failed logins per user name allowed within :data:`LOCK_WINDOW_S` before a pause.
MAX_FAILURES = 5
LOCK_WINDOW_S = 300.0


@dataclass
class ConsoleSession:
    """A logged-in trainer."""

    id: str
    username: str
    role: str
    csrf: str
    expires: float


class Sessions:
    """Server-side session table.

    Args:
        lifetime_s: seconds a session lasts from login.
    """

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._sessions: dict[str, ConsoleSession] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def create(self, username: str, role: str) -> ConsoleSession:
        """Start a session for a verified user."""
        session = ConsoleSession(secrets.token_urlsafe(32), username, role, secrets.token_urlsafe(32),
                                 time.time() + self.lifetime_s)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session for a cookie value, or None (expired sessions are dropped)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires < time.time():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str | None) -> None:
        """Log out."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def locked(self, username: str) -> bool:
        """Whether too many recent failures block this user name for now."""
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if now - t < LOCK_WINDOW_S]
            self._failures[username] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, username: str) -> None:
        """Count a failed login."""
        with self._lock:
            self._failures.setdefault(username, []).append(time.time())

    def succeeded(self, username: str) -> None:
        """Forget failures after a good login."""
        with self._lock:
            self._failures.pop(username, None)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison that is False when either side is missing."""
    return bool(given and expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())
