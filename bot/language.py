"""What the tutor reads in a learner's text: script, words and the message size limit.

One place for the rules every layer shares, so that search, quizzes, replies and the
channels agree on what counts as Hindi and what counts as a word. This module imports
nothing from the project: any floor may use it.
"""

from __future__ import annotations

import re

#: Longest learner message the tutor reads (characters); longer ones get a clear refusal.
MAX_MESSAGE_CHARS = 2000

#: A word: Python's ``\w`` splits Hindi words at vowel signs (matras are not word
#: characters), so the Devanagari block is matched explicitly, leaving out the danda
#: ``।`` and double danda ``॥`` (U+0964-U+0965), which end sentences.
WORD = re.compile(r"[\w\u0900-\u0963\u0966-\u097F]+")

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


def script_language(text: str) -> str:
    """The language code the script of ``text`` suggests.

    Args:
        text: any text.

    Returns:
        ``"hi"`` for Devanagari-heavy text (see :func:`is_mostly_devanagari`), else ``"en"``.
    """
    return "hi" if is_mostly_devanagari(text) else "en"
