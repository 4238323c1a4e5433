"""Romanised Hindi written in Devanagari: a measured alternative, not part of the tutor.

Officers type Hindi in Latin letters ("mujhe chutti ke niyam batao"). The tutor searches
such a question as typed: E5 reads romanised Hindi, and the English terms list
(``bot/knowledge/terms/hi.yml``) adds the English words for its Hindi ones. The issue
on languages asked whether writing the question in Devanagari first (``indic-transliteration``,
a pinned dev dependency) finds the answer more often; ``make eval`` answers that with the
``*-native`` pipelines on the romanised Hindi questions (sets ``kb-hinglish`` and
``officer-hinglish``), beside the pipelines that search the question as typed.
"""

from __future__ import annotations

import re

#: Words kept in Latin letters: acronyms (RTI, LTC, GFR), numbers, and words with digits.
_KEEP = re.compile(r"^(?:[A-Z][A-Z0-9.&-]*|[0-9][\w.,/-]*)$")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.&/-]*|\S")


def to_devanagari(text: str) -> str:
    """Write romanised Hindi in Devanagari, word by word, keeping acronyms and numbers.

    Informal romanisation has no standard; OPTITRANS (the scheme for casual typing) is the
    closest of the library's schemes, and the words it cannot spell right ("chutti"
    becomes चुत्ति, not छुट्टी) are what the measurement is about.

    Args:
        text: A question in Latin letters.

    Returns:
        The question in Devanagari (acronyms, numbers and punctuation unchanged).
    """
    from indic_transliteration import sanscript  # a dev dependency: only the evaluation uses it

    words = []
    for word in _WORD.findall(text):
        if _KEEP.match(word) or not word.isascii() or not word[0].isalpha():
            words.append(word)
        else:
            words.append(sanscript.transliterate(word.lower(), sanscript.OPTITRANS, sanscript.DEVANAGARI))
    return " ".join(words)
