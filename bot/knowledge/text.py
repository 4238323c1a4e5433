"""Tokenisation shared by lexical search and sentence selection.

Python's ``\\w`` splits Hindi words at vowel signs (matras are not word characters),
so words are matched with an explicit Devanagari range instead; the danda ``।`` and
double danda ``॥`` are sentence ends, not letters.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"[\w\u0900-\u0963\u0966-\u097F]+")

STOPWORDS = frozenset(
    """a an and are as at be been by can could did do does for from had has have how i if in
    into is it its me my of on or our shall should so such than that the their them then there
    these they this those to under was we were what when where which who whom why will with
    would you your am any about also may must not no yes please tell know want need get
    है हैं का की के को में से पर और या यह वह क्या कैसे कितने कितना कितनी कब कौन मुझे मैं हम
    ka ki ke ko me mein se hai hain kya kaise kitne kitna kitni kab kaun mujhe""".split()
)


def tokenize(text: str, drop_stopwords: bool = True) -> list[str]:
    """Lower-case word tokens of English, Hindi or Hinglish text.

    Args:
        text: any text.
        drop_stopwords: drop function words (for lexical scoring).

    Returns:
        Tokens with a light plural stem (``rules`` -> ``rule``).
    """
    tokens = []
    for token in TOKEN.findall(text.lower()):
        if drop_stopwords and token in STOPWORDS:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and token.isascii():
            token = token[:-1]
        tokens.append(token)
    return tokens
