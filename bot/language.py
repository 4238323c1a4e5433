"""What the tutor reads in a learner's text: script, words and the message size limit.

One place for the rules every layer shares, so that search, quizzes, replies and the
channels agree on what counts as Hindi and what counts as a word. This module imports
nothing from the project: any floor may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest learner message the tutor reads (characters); longer ones get a clear refusal.
MAX_MESSAGE_CHARS = 2000



@dataclass(frozen=True)
class Script:
    """A writing system of India's scheduled languages, as a Unicode block.

    ``language`` is the code a message in this script is taken to be written in when
    nothing else tells: the most-spoken language written in it (Devanagari is also
    Marathi, Nepali, Sanskrit, Konkani, Maithili, Bodo and Dogri; Bengali script is also
    Assamese; the learner's chosen language, not the script, decides replies).
    """

    name: str
    first: str
    last: str
    language: str

    def holds(self, char: str) -> bool:
        """Whether ``char`` lies in this script's block."""
        return self.first <= char <= self.last


#: The scripts of the Eighth Schedule's languages other than Latin.
SCRIPTS: tuple[Script, ...] = (
    Script("Devanagari", "\u0900", "\u097f", "hi"),
    Script("Bengali", "\u0980", "\u09ff", "bn"),
    Script("Gurmukhi", "\u0a00", "\u0a7f", "pa"),
    Script("Gujarati", "\u0a80", "\u0aff", "gu"),
    Script("Odia", "\u0b00", "\u0b7f", "or"),
    Script("Tamil", "\u0b80", "\u0bff", "ta"),
    Script("Telugu", "\u0c00", "\u0c7f", "te"),
    Script("Kannada", "\u0c80", "\u0cff", "kn"),
    Script("Malayalam", "\u0d00", "\u0d7f", "ml"),
    Script("Arabic", "\u0600", "\u06ff", "ur"),
    Script("Ol Chiki", "\u1c50", "\u1c7f", "sat"),
    Script("Meetei Mayek", "\uabc0", "\uabff", "mni"),
)

#: A word: Python's ``\w`` splits words of the Indian scripts at their vowel signs
#: (matras are not word characters), so those blocks are matched explicitly, leaving
#: out the danda ``।`` and double danda ``॥`` (U+0964-U+0965), which end sentences in
#: all of them.
WORD = re.compile(r"[\w\u0900-\u0963\u0966-\u0D7F\u1C50-\u1C7F\uABC0-\uABFF]+")

#: Share of letters in the Devanagari block above which text counts as Hindi: mixed
#: messages ("RTI के तहत ...") still count, a stray Hindi word in English does not.
DEVANAGARI_SHARE = 0.3


def is_mostly_devanagari(text: str) -> bool:
    """Whether more than :data:`DEVANAGARI_SHARE` of the letters in ``text`` are Devanagari.

    Args:
        text: any text (a question, a quiz item, a document's opening).

    Returns:
        True for Devanagari-heavy text; False for other scripts and for text without letters.
    """
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum("\u0900" <= c <= "\u097f" for c in letters) / len(letters) > DEVANAGARI_SHARE


def dominant_script(text: str) -> Script | None:
    """The Indian script ``text`` is mostly written in, if any.

    Args:
        text: any text.

    Returns:
        The :data:`SCRIPTS` entry holding the most letters of ``text`` when that share is
        above :data:`DEVANAGARI_SHARE` (the same rule as for Hindi); None for Latin
        script, mixed text under the share and text without letters.
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    counts = {script: sum(script.holds(c) for c in letters) for script in SCRIPTS}
    script, count = max(counts.items(), key=lambda item: item[1])
    return script if count / len(letters) > DEVANAGARI_SHARE else None


def is_indic_script(text: str) -> bool:
    """Whether ``text`` is mostly in an Indian script (Devanagari or another), not Latin.

    Search treats such questions alike: only the multilingual embedder reads them.

    Args:
        text: any text.

    Returns:
        True when :func:`dominant_script` finds a script.
    """
    return dominant_script(text) is not None


def script_language(text: str) -> str:
    """The language code the script of ``text`` suggests.

    Args:
        text: any text.

    Returns:
        ``"hi"`` for Devanagari-heavy text (see :func:`is_mostly_devanagari`), the
        script's language for another Indian script (``"bn"``, ``"ta"``, ...), else ``"en"``.
    """
    script = dominant_script(text)
    return script.language if script is not None else "en"
