"""Text in the normal form answers and topics are compared in.

Below :mod:`bot.quizzes.answers` and :mod:`bot.quizzes.banks`, which both need it
(a bank's topic search and answer checking must normalise alike).
"""

from __future__ import annotations

import re
import unicodedata

_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")


def normalise_wording(text: str) -> str:
    """Lower-case, NFKC, ASCII digits, punctuation to spaces, single spaces.

    Devanagari letters and vowel signs are kept (they are not punctuation).

    Args:
        text: Any text.

    Returns:
        The normalised text.
    """
    text = unicodedata.normalize("NFKC", str(text)).casefold().translate(_DEVANAGARI_DIGITS)
    text = re.sub(r"(?<=\d),(?=\d)", "", text)  # 5,000 and 1,00,000 are one number
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "PS" or ch == "।":
            # Keep decimal points inside numbers ("2.5"); everything else splits words.
            out.append(ch if ch == "." else " ")
        else:
            out.append(ch)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", "".join(out))
    return " ".join(text.split())
