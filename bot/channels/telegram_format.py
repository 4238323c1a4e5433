"""Render the bot's Markdown subset as Telegram HTML, split long replies, map buttons.

The bot writes a small Markdown subset (``**bold**``, ``_italic_``, ``[text](url)``,
``- `` bullets, blank-line paragraphs). Telegram's HTML parse mode is the safest target:
everything that is not one of those constructs is passed through :func:`html.escape`, so
text from documents or learners can never inject markup. Only ``http``, ``https`` and
``mailto`` links become live; any other link shows its text only.

Limits enforced here (Bot API): a message holds at most 4096 characters and a button's
``callback_data`` at most 64 bytes. Long messages are split on the Markdown source
(paragraphs, then lines, sentences, words) and each piece is rendered on its own, so a
split can never fall inside an HTML tag or entity. A quiz poll (:class:`QuizPoll`) holds
at most 300 characters of question and 2-12 options of 100 characters each.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import PollLimit

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_BYTES = 64
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# Keys for payloads that do not fit in callback_data. Rasa payloads start with "/" or are
# plain text; a payload that itself starts with this prefix is always stored under a key,
# so decoding is unambiguous.
KEY_PREFIX = "#k:"

_INLINE = re.compile(
    r"\[(?P<label>[^\]\n]+)\]\((?P<url>[^()\s]+)\)"  # [text](url)
    r"|\*\*(?P<bold>.+?)\*\*"  # **bold**
    r"|(?<![\w*])_(?P<italic>[^_\n]+?)_(?!\w)"  # _italic_, not snake_case words
)
_BULLET = re.compile(r"^(?P<indent>\s*)- (?P<body>.*)$")
# Sentence ends: Latin punctuation and the Devanagari danda.
_SENTENCE_END = re.compile(r"(?<=[.!?\u0964])\s+")


def telegram_length(text: str) -> int:
    """Length of ``text`` as Telegram counts it (UTF-16 code units).

    Args:
        text: Any string.

    Returns:
        The number of UTF-16 code units (an emoji outside the BMP counts as 2).
    """
    return len(text.encode("utf-16-le")) // 2


def safe_url(url: str) -> str | None:
    """Return ``url`` if it may become a live link, else ``None``.

    Args:
        url: The link target as written in the Markdown.

    Returns:
        The URL when its scheme is http/https (with a host) or mailto, otherwise ``None``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    return url


def _render_inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[pos : match.start()], quote=False))
        if match.group("label") is not None:
            label = _render_inline(match.group("label"))
            url = safe_url(match.group("url"))
            out.append(f'<a href="{html.escape(url, quote=True)}">{label}</a>' if url else label)
        elif match.group("bold") is not None:
            out.append(f"<b>{_render_inline(match.group('bold'))}</b>")
        else:
            out.append(f"<i>{_render_inline(match.group('italic'))}</i>")
        pos = match.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def _render_line(line: str) -> str:
    bullet = _BULLET.match(line)
    if bullet:
        return f"{bullet.group('indent')}• {_render_inline(bullet.group('body'))}"
    return _render_inline(line)


def markdown_to_html(text: str) -> str:
    """Convert the bot's Markdown subset to Telegram HTML, escaping everything else.

    Inline markup never spans lines, so the result of rendering a text equals the
    line-by-line concatenation of its rendered lines (which the splitter relies on).

    Args:
        text: Message text in the bot's Markdown subset.

    Returns:
        A string for ``parse_mode="HTML"``.
    """
    return "\n".join(_render_line(line) for line in text.replace("\r\n", "\n").split("\n"))


def _split_units(text: str, level: int) -> tuple[list[str], str]:
    if level == 0:
        return re.split(r"\n\s*\n", text), "\n\n"
    if level == 1:
        return text.split("\n"), "\n"
    if level == 2:
        return _SENTENCE_END.split(text), " "
    return text.split(" "), " "


def _hard_cut(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut a single unbreakable run into the longest prefixes that fit (binary search)."""
    pieces: list[str] = []
    while text:
        lo, hi = 1, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(text[:mid]):
                lo = mid
            else:
                hi = mid - 1
        pieces.append(text[:lo])
        text = text[lo:]
    return pieces


def _pack(text: str, fits: Callable[[str], bool], level: int = 0) -> list[str]:
    if fits(text):
        return [text]
    if level > 3:
        return _hard_cut(text, fits)
    units, sep = _split_units(text, level)
    pieces: list[str] = []
    current: str | None = None
    for unit in units:
        if not unit.strip():
            continue
        if not fits(unit):
            if current is not None:
                pieces.append(current)
                current = None
            pieces.extend(_pack(unit, fits, level + 1))
            continue
        candidate = unit if current is None else current + sep + unit
        if fits(candidate):
            current = candidate
        else:
            pieces.append(current)  # type: ignore[arg-type]  # current is set when a candidate fails
            current = unit
    if current is not None:
        pieces.append(current)
    return pieces


def format_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Render a bot message as one or more Telegram HTML messages under ``limit``.

    Args:
        text: Message text in the bot's Markdown subset.
        limit: Maximum length of each rendered message, in UTF-16 code units.

    Returns:
        Rendered HTML chunks in order; empty when ``text`` is blank.

    Raises:
        ValueError: If ``limit`` is too small to hold a single escaped character.
    """
    if limit < 8:  # the longest escape, "&quot;", must fit
        raise ValueError("limit too small")

    def fits(markdown: str) -> bool:
        return telegram_length(markdown_to_html(markdown)) <= limit

    chunks = _pack(text.strip(), fits) if text.strip() else []
    return [markdown_to_html(chunk) for chunk in chunks if chunk.strip()]


class PayloadStore(Protocol):
    """Where payloads too long for ``callback_data`` are kept under a short key."""

    def put_payload(self, key: str, payload: str) -> None:
        """Remember ``payload`` under ``key``."""

    def get_payload(self, key: str) -> str | None:
        """Return the payload stored under ``key``, or ``None`` if unknown or evicted."""


class MemoryPayloadStore:
    """A bounded in-memory :class:`PayloadStore` (least recently used entries evicted).

    Args:
        max_entries: How many payloads to keep.
    """

    def __init__(self, max_entries: int = 5000) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries

    def put_payload(self, key: str, payload: str) -> None:
        """Remember ``payload`` under ``key``, evicting the oldest entry when full."""
        self._items[key] = payload
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def get_payload(self, key: str) -> str | None:
        """Return the payload under ``key`` or ``None``."""
        payload = self._items.get(key)
        if payload is not None:
            self._items.move_to_end(key)
        return payload


class CallbackCodec:
    """Map Rasa button payloads to ``callback_data`` of at most 64 bytes and back.

    Short payloads travel as they are; longer ones (e.g. ``/answer_quiz{"quiz_answer":...}``
    with a long question id) are replaced by ``#k:`` plus a hash, and the payload is kept
    in ``store``. The key is derived from the payload, so the same button always gets the
    same key and the store does not grow with repeated sends.

    Args:
        store: Where long payloads are kept (durable in the bridge, memory in a pinch).
    """

    def __init__(self, store: PayloadStore | None = None) -> None:
        self._store: PayloadStore = store if store is not None else MemoryPayloadStore()

    def encode(self, payload: str) -> str:
        """Return ``callback_data`` for ``payload`` (at most 64 bytes).

        Args:
            payload: The Rasa button payload.

        Returns:
            The payload itself when it fits, otherwise a short key.
        """
        if len(payload.encode()) <= MAX_CALLBACK_BYTES and not payload.startswith(KEY_PREFIX):
            return payload
        key = KEY_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:24]
        self._store.put_payload(key, payload)
        return key

    def decode(self, data: str) -> str | None:
        """Return the payload for a pressed button's ``callback_data``.

        Args:
            data: ``callback_data`` from a callback query.

        Returns:
            The original payload, or ``None`` when the key has been evicted.
        """
        if data.startswith(KEY_PREFIX):
            return self._store.get_payload(data)
        return data


def build_keyboard(buttons: Iterable[Mapping[str, object]], codec: CallbackCodec) -> InlineKeyboardMarkup | None:
    """Turn Rasa buttons into an inline keyboard, one button per row.

    Buttons with a ``url`` instead of a payload (allowed schemes only) become link buttons.

    Args:
        buttons: Rasa buttons, ``{"title": str, "payload": str}``.
        codec: Maps payloads to ``callback_data``.

    Returns:
        The keyboard, or ``None`` when there are no usable buttons.
    """
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = button.get("payload")
        url = button.get("url")
        if not title:
            continue
        if isinstance(url, str) and safe_url(url) and not url.startswith("mailto:"):
            rows.append([InlineKeyboardButton(title, url=url)])
        elif isinstance(payload, str) and payload:
            rows.append([InlineKeyboardButton(title, callback_data=codec.encode(payload))])
    return InlineKeyboardMarkup(rows) if rows else None


#: Largest file the bridge sends as a document (the Bot API accepts up to 50 MB uploads).
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
_UNSAFE_FILENAME = re.compile(r"[^\w.\-]+")


def document_of(reply: Mapping[str, object]) -> tuple[str, bytes] | None:
    """The file a Rasa reply asks to deliver (e.g. "export my data"), or None.

    The actions send a file as a ``custom`` payload ``{"data": {"type": "file", "name",
    "mime_type", "content"}}`` (see :func:`bot.privacy.export_file`).

    Args:
        reply: One message of Rasa's REST channel.

    Returns:
        ``(file name, bytes)``: the name reduced to letters, digits, dots and dashes; None
        when the reply carries no file, or one over :data:`MAX_DOCUMENT_BYTES`.
    """
    custom = reply.get("custom")
    data = custom.get("data") if isinstance(custom, Mapping) else None
    if not isinstance(data, Mapping) or data.get("type") != "file" or not isinstance(data.get("content"), str):
        return None
    content = str(data["content"]).encode("utf-8")
    if len(content) > MAX_DOCUMENT_BYTES:
        return None
    name = _UNSAFE_FILENAME.sub("-", str(data.get("name") or "file.txt")).strip(".-")[:64] or "file.txt"
    return name, content


#: Bot API limits of a poll (python-telegram-bot's constants): question and option length, options.
MAX_POLL_QUESTION = int(PollLimit.MAX_QUESTION_LENGTH)
MAX_POLL_OPTION = int(PollLimit.MAX_OPTION_LENGTH)
MIN_POLL_OPTIONS, MAX_POLL_OPTIONS = 2, int(PollLimit.MAX_OPTION_NUMBER)


@dataclass(frozen=True)
class QuizPoll:
    """A multiple-choice question that can go to Telegram as a native quiz poll.

    The actions attach it to a question as a ``custom`` payload ``{"quiz_poll": {"item_id",
    "question", "options", "correct_option_id", "answers"}}`` right after the question's
    text and buttons (see ``actions/quizzes.py``); ``answers`` holds, per option, the
    payload of that option's button, which is what Rasa gets when the learner votes.

    Attributes:
        item_id: The quiz item asked.
        question: Plain-text question (Telegram shows it as the poll's title).
        options: Plain-text options.
        correct_option_id: Index of the right option (Telegram reveals it after the vote).
        answers: The Rasa payload for each option.
    """

    item_id: str
    question: str
    options: tuple[str, ...]
    correct_option_id: int
    answers: tuple[str, ...]

    def fits_telegram(self) -> bool:
        """Whether Telegram accepts this as a poll (else the question goes as text and buttons)."""
        return (
            0 < telegram_length(self.question) <= MAX_POLL_QUESTION
            and MIN_POLL_OPTIONS <= len(self.options) <= MAX_POLL_OPTIONS
            and all(0 < telegram_length(option) <= MAX_POLL_OPTION for option in self.options)
        )


def quiz_poll_of(reply: Mapping[str, object]) -> QuizPoll | None:
    """The quiz poll a Rasa reply carries, or None (also when the payload is malformed).

    Args:
        reply: One message of Rasa's REST channel.

    Returns:
        The poll as sent by the action, not yet checked against Telegram's limits.
    """
    custom = reply.get("custom")
    poll = custom.get("quiz_poll") if isinstance(custom, Mapping) else None
    if not isinstance(poll, Mapping):
        return None
    options, answers, correct = poll.get("options"), poll.get("answers"), poll.get("correct_option_id")
    item_id, question = poll.get("item_id"), poll.get("question")
    if not (isinstance(options, list) and isinstance(answers, list) and len(options) == len(answers)
            and all(isinstance(value, str) and value.strip() for value in [*options, *answers])
            and isinstance(correct, int) and not isinstance(correct, bool) and 0 <= correct < len(options)
            and isinstance(item_id, str) and item_id and isinstance(question, str)):
        return None
    return QuizPoll(item_id, question.strip(), tuple(o.strip() for o in options), correct, tuple(answers))
