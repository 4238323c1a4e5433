"""Helpers shared by the actions: the learner's language, text and identity."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker

from bot.i18n import available_languages, language_of_text
from bot.language import dominant_script

#: Common Hinglish function words: a Latin-script message with several of them is Hindi.
_HINGLISH = frozenset(
    "kya hai hain kaise kitne kitna kitni kab kahan kyun mujhe mera meri mere batao bataiye "
    "karna karein karo milti milta milega chahiye sakte sakta sakti nahi nahin haan aur ka ki ke "
    "ko mein me se hota hoti hote dena lena wala wali ji".split()
)
#: Words no English sentence uses: each counts twice, so a short request such as
#: "mujhe quiz do" (two of its three words are English or ambiguous) is Hindi too.
_HINGLISH_STRONG = frozenset("mujhe mujhse hamein humein batao bataiye chahiye dijiye kijiye samjhao samjhaiye".split())


def language_of(tracker: Tracker) -> str:
    """The learner's reply language slot (``en`` when unset or unknown)."""
    value = tracker.get_slot("language")
    return value if value in available_languages() else "en"


def detect_language(text: str) -> str | None:
    """The language a learner's message is written in, when it can be replied in.

    Args:
        text: a learner message.

    Returns:
        For an Indian script, the interface language written in it (Hindi or Marathi for
        Devanagari, told apart by their locales' ``markers``), else None; ``hi`` for
        Hinglish; ``en`` for English; None when too short to tell (e.g. "ok") or a /command.
    """
    text = text.strip()
    if not text or text.startswith("/"):
        return None
    if not any(c.isalpha() for c in text):
        return None
    script = dominant_script(text)
    if script is not None:
        # A script no locale file is written in cannot be replied in: keep the current one.
        return language_of_text(script, text)
    words = re.findall(r"[a-z]+", text.lower())
    if len(words) < 2:
        return None
    hinglish = sum(w in _HINGLISH for w in words)
    score = hinglish + sum(w in _HINGLISH_STRONG for w in words)
    return "hi" if score >= 2 and hinglish / len(words) >= 0.25 else "en"


def latest_text(tracker: Tracker) -> str:
    """The text of the learner's latest message, stripped."""
    return (tracker.latest_message.get("text") or "").strip()


def button(title: str, payload: str) -> dict[str, Any]:
    """A Rasa button: what the learner sees and the payload it sends."""
    return {"title": title, "payload": payload}


def learner_key(tracker: Tracker) -> tuple[str, str]:
    """``(channel, external_id)`` identifying the learner in the learner store.

    The Telegram bridge talks to Rasa over REST with pseudonymous ``tg-…`` sender ids,
    so the channel is recognised by that prefix; other channels are named by Rasa's
    input channel (``socketio`` for the web widget, ``rest`` for tests and the CLI).
    """
    sender = tracker.sender_id
    if sender.startswith("tg-"):
        return "telegram", sender
    return tracker.get_latest_input_channel() or "rest", sender
