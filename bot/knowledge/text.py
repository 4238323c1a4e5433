"""Tokenisation shared by lexical search and sentence selection.

Words are :data:`bot.language.WORD` matches (Hindi words kept whole, the danda a
sentence end, not a letter), lower-cased, without stop words.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.language import WORD

STOPWORDS = frozenset(
    """a an and are as at be been by can could did do does for from had has have how i if in
    into is it its me my of on or our shall should so such than that the their them then there
    these they this those to under was we were what when where which who whom why will with
    would you your am any about also may must not no yes please tell know want need get
    है हैं का की के को में से पर और या यह वह क्या कैसे कितने कितना कितनी कब कौन मुझे मैं हम
    ka ki ke ko me mein se hai hain kya kaise kitne kitna kitni kab kaun mujhe
    लिए भी नहीं होता होती होते सकता सकती सकते चाहिए करें करना करता जाता जाती जाते हूँ हो
    मिलता मिलती मिलते अपना अपने मेरा मेरी मेरे आप किस किसी कोई कुछ तो ही था थी थे ने
    tak ho hu hoon hota hoti hote sakte sakta sakti milti milta milte deni dena lena karna kare
    kar karein liye bhi nahi nahin agar toh par wala wali koi kuch apna apne mera meri mere hum
    aap ye yeh wo woh jab tab kahan kyun kyon kaunsa chahiye padta padti padega baar""".split()  # noqa: SIM905 - a word list reads better
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
    for token in WORD.findall(text.lower()):
        if drop_stopwords and token in STOPWORDS:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and token.isascii():
            token = token[:-1]
        tokens.append(token)
    return tokens


class GlossaryError(ValueError):
    """The glossary file is malformed (the message says where)."""


class Glossary:
    """Acronym expansion from the trainer-editable ``glossary.yml`` of the knowledge folder.

    Args:
        terms: short form -> what it stands for.
    """

    def __init__(self, terms: dict[str, str] | None = None):
        self.terms = dict(terms or {})
        self._patterns = []
        for short, long in self.terms.items():
            flags = 0 if len(short) <= 2 else re.IGNORECASE  # "CL" yes, "cl"/"el" in prose no
            pattern = re.compile(rf"(?<![\w-]){re.escape(short)}(?:s|es)?(?![\w-])", flags)
            self._patterns.append((pattern, long))

    def expand(self, query: str) -> str:
        """The query with each known short form followed by its expansion in brackets.

        Returns:
            The expanded query (unchanged when nothing matches or the long form is already there).
        """
        out = query
        lowered = query.lower()
        for pattern, long in self._patterns:
            if long.lower() in lowered:
                continue
            match = pattern.search(out)
            if match:  # the long form goes right after the first mention
                out = f"{out[:match.end()]} ({long}){out[match.end():]}"
        return out

    @classmethod
    def load(cls, path: Path) -> Glossary:
        """Read a glossary file; a missing file is an empty glossary.

        The file is read as carefully as documents (:mod:`bot.knowledge.safe_yaml`):
        a link, a special or oversized file, deep nesting or an alias bomb is refused.

        Raises:
            GlossaryError: a refused file, bad YAML or entries that are not short text pairs.
        """
        import yaml

        from bot.knowledge import safe_yaml

        try:
            data = safe_yaml.load_file(path) or {}
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise GlossaryError(f"{path.name}: cannot read ({exc})") from None
        except yaml.YAMLError as exc:
            raise GlossaryError(f"{path.name}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
        terms = data.get("terms") if isinstance(data, dict) else None
        if not isinstance(terms, dict):
            raise GlossaryError(f"{path.name}: expected a 'terms:' mapping of short form: expansion")
        clean: dict[str, str] = {}
        for short, long in terms.items():
            if not isinstance(short, str) or not re.fullmatch(r"[\w&.-]{2,15}", short):
                raise GlossaryError(f"{path.name}: {short!r} is not a short form (2-15 letters, no spaces)")
            if not isinstance(long, str) or not long.strip():
                raise GlossaryError(f"{path.name}: {short}: the expansion must be non-empty text")
            clean[short] = long.strip()
        return cls(clean)


_GLOSSARIES: dict[Path, tuple[float, Glossary]] = {}


def cached_glossary(path: Path) -> Glossary:
    """The glossary at ``path``, re-read when its modification time changes.

    A broken or refused file keeps the last good version (or none): searching must not
    fail because of a typo, or a hostile file, in the glossary; ``kb validate`` reports it.
    """
    try:
        mtime = path.lstat().st_mtime  # lstat: a file swapped for a link is a change too
    except OSError:
        return Glossary()
    cached = _GLOSSARIES.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        glossary = Glossary.load(path)
    except GlossaryError:
        glossary = cached[1] if cached else Glossary()
    _GLOSSARIES[path] = (mtime, glossary)
    return glossary
