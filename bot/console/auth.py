"""Console sessions, CSRF tokens and login throttling.

A session id is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the
server keeps ``sha256(id) -> (user, role, csrf token, expiry)`` in the database (table
``console_sessions``), so sessions survive a console restart and any console replica
accepts them, and a copy of the database holds no usable session ids. Every POST must
carry the session's CSRF token in a form field (the login form uses a double-submit
cookie). Sign-in attempts per user name are counted in the database too (table
``console_login_attempts``), before the password is checked, so neither concurrent
requests nor a second console process get more guesses than :data:`MAX_FAILURES`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

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


class SessionTable(Protocol):
    """Where sessions live (:class:`bot.handoff.records.HandoffRecords` in the product)."""

    def save_console_session(self, token_hash: str, username: str, role: str, csrf: str,
                             expires_at: datetime) -> None:
        """Store a session under the hash of its token until ``expires_at``."""

    def console_session(self, token_hash: str) -> dict[str, Any] | None:
        """The live session stored under ``token_hash``, or None."""

    def drop_console_session(self, token_hash: str) -> None:
        """Forget the session stored under ``token_hash``."""

    def reserve_login_attempt(self, name_hash: str, window_s: float, limit: int) -> int | None:
        """Count a sign-in attempt for a user name within ``window_s``; refuse it past ``limit``.

        Returns:
            The attempt's id, or None when the name is locked for now.
        """

    def clear_login_attempts(self, name_hash: str) -> None:
        """Forget a user name's counted attempts (after a successful sign-in)."""


def token_hash(session_id: str) -> str:
    """What the database keys a session by."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def name_hash(username: str) -> str:
    """What the database counts sign-in attempts by (case-insensitive, never the name itself)."""
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()


class Sessions:
    """Server-side sessions plus login throttling.

    Args:
        lifetime_s: seconds a session lasts from login.
        table: where sessions are stored.
    """

    def __init__(self, lifetime_s: float, table: SessionTable) -> None:
        self.lifetime_s = lifetime_s
        self.table = table

    def create(self, username: str, role: str) -> ConsoleSession:
        """Start a session for a verified user."""
        session = ConsoleSession(secrets.token_urlsafe(32), username, role, secrets.token_urlsafe(32),
                                 time.time() + self.lifetime_s)
        self.table.save_console_session(token_hash(session.id), username, role, session.csrf,
                                        datetime.fromtimestamp(session.expires, UTC))
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session for a cookie value, or None (expired sessions are dropped)."""
        if not session_id or len(session_id) > 128:
            return None
        row = self.table.console_session(token_hash(session_id))
        if row is None:
            return None
        return ConsoleSession(session_id, row["username"], row["role"], row["csrf"], row["expires_at"].timestamp())

    def drop(self, session_id: str | None) -> None:
        """Log out."""
        if session_id:
            self.table.drop_console_session(token_hash(session_id))

    def begin_attempt(self, username: str) -> bool:
        """Count a sign-in attempt for ``username`` before its password is checked.

        Args:
            username: the name typed on the login form.

        Returns:
            False when too many recent attempts lock this name for now (do not check the
            password then); True otherwise, and the attempt counts as a failure until
            :meth:`succeeded` is called.
        """
        return self.table.reserve_login_attempt(name_hash(username), LOCK_WINDOW_S, MAX_FAILURES) is not None

    def succeeded(self, username: str) -> None:
        """Forget the name's counted attempts after a good sign-in."""
        self.table.clear_login_attempts(name_hash(username))


def same_token(given: object, expected: str | None) -> bool:
    """Constant-time comparison that is False when either side is missing.

    ``given`` is whatever a form or header carried (a file field in a tampered form
    compares as its text and fails).
    """
    return bool(given and expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())
