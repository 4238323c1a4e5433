"""Logging with personal data removed: one call in every process's ``main``.

:class:`RedactingFilter` rewrites each record's final message before any handler sees it:

- e-mail addresses -> ``<email>``;
- Aadhaar-like numbers (12 digits, optionally in groups of 4) -> ``<aadhaar>``;
- PAN-like ids (``ABCDE1234F``) -> ``<pan>``;
- Indian mobile numbers (``+91``/``0`` optional, 10 digits starting 6-9) -> ``<phone>``;
- remaining runs of 7-15 digits (Telegram user and chat ids) -> ``id#<hash>``, a short
  keyed hash: the same id gives the same tag within a deployment, so logs stay
  correlatable, but the id cannot be read back.

Message text is never logged at INFO by our code (log counts and ids, not content);
:data:`TEXT_BEARING_LOGGERS` are third-party loggers that print message text, held at WARNING.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
AADHAAR = re.compile(r"(?<!\d)\d{4}[ -]?\d{4}[ -]?\d{4}(?!\d)")
PAN = re.compile(r"\b[A-Z]{5}\d{4}[A-Z]\b")
PHONE = re.compile(r"(?<![\w+])(?:\+91[ -]?|0)?[6-9]\d{4}[ -]?\d{5}(?!\d)")
LONG_ID = re.compile(r"(?<![\w#])\d{7,15}(?!\d)")

#: Loggers that print user messages at INFO/DEBUG (Rasa SDK's action dumps, sanic access, httpx URLs).
TEXT_BEARING_LOGGERS = ("rasa_sdk.endpoint", "rasa_sdk.executor", "sanic.access", "httpx", "telegram.ext")


def _key() -> bytes:
    return (os.environ.get("TUTOR_PSEUDONYM_SALT") or "tutor-logs").encode()


def redact(text: str) -> str:
    """Return ``text`` with personal data masked or hashed (see the module docstring)."""
    text = EMAIL.sub("<email>", text)
    text = PAN.sub("<pan>", text)
    text = AADHAAR.sub("<aadhaar>", text)
    text = PHONE.sub("<phone>", text)
    key = _key()
    return LONG_ID.sub(lambda m: "id#" + hmac.new(key, m.group().encode(), hashlib.sha256).hexdigest()[:8], text)


class RedactingFilter(logging.Filter):
    """Masks personal data in every record (message and exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask personal data in the record's message and exception text; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach :class:`RedactingFilter` to every handler of ``logger`` (root by default).

    Handler filters (not logger filters) also catch records propagated from child loggers.
    """
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in TEXT_BEARING_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))


DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int | None = None, fmt: str = DEFAULT_FORMAT) -> None:
    """Set up logging for a process: the one call every entry point's ``main`` makes.

    Args:
        level: a level name or number; default ``LOG_LEVEL`` from the environment, else INFO.
            An unknown name falls back to INFO with a warning rather than stopping the process.
        fmt: the record format (command-line tools drop the timestamp).
    """
    level = level or os.environ.get("LOG_LEVEL") or "INFO"
    unknown = isinstance(level, str) and not isinstance(logging.getLevelName(level.upper()), int)
    logging.basicConfig(level="INFO" if unknown else (level.upper() if isinstance(level, str) else level),
                        format=fmt)
    install_redaction()
    if unknown:
        logging.getLogger(__name__).warning("unknown LOG_LEVEL %r; using INFO", level)
