"""English terms for the words officers type in Indian languages (``terms/<language>.yml``).

The material is mostly English. A question in an Indian script reaches it through the
multilingual E5 model alone: the English MiniLM model and BM25 cannot read it. Adding
the English terms of the administrative words it uses ("अर्जित अवकाश" -> "earned leave",
"chutti" -> "leave", "ছুটি" -> "leave") lets BM25 and MiniLM vote too, and lets a quiz
asked for in any language find its module (:meth:`bot.quizzes.banks.QuizBank.for_topic`).
The lists are the team's own, one file per language (Hindi also holds Hinglish), read
together once per process; longer phrases win over the words inside them.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from bot.language import WORD

TERMS_DIR = Path(__file__).with_name("terms")
MAX_PHRASE_WORDS = 5


@functools.cache
def _terms(folder: Path = TERMS_DIR) -> dict[tuple[str, ...], str]:
    from bot.knowledge import safe_yaml

    found: dict[tuple[str, ...], str] = {}
    for path in sorted(folder.glob("*.yml")):
        data = safe_yaml.load_file(path) or {}
        terms = data.get("terms") if isinstance(data, dict) else None
        if not isinstance(terms, dict):
            raise ValueError(f"{path}: expected a 'terms:' mapping")
        found.update((tuple(WORD.findall(_folded(key))), str(value).strip())
                     for key, value in terms.items() if str(value).strip() and WORD.findall(_folded(key)))
    return found


def _folded(text: object) -> str:
    # NFC: keyboards type Bengali য় (and ড়, ঢ়) as one code point or as the letter and its dot.
    return unicodedata.normalize("NFC", str(text)).lower()


def english_terms(query: str, folder: Path = TERMS_DIR) -> list[str]:
    """The English terms for the listed words and phrases in ``query``, in order, once each.

    Args:
        query: the question as typed.
        folder: the term lists (``<language>.yml``).

    Returns:
        English phrases (empty when the question uses none of the listed words).
    """
    terms = _terms(folder)
    words = WORD.findall(_folded(query))
    found: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            english = terms.get(tuple(words[i:i + size]))
            if english is not None:
                if english not in found:
                    found.append(english)
                i += size
                break
        else:
            i += 1
    return found


def with_english_terms(query: str, folder: Path = TERMS_DIR) -> tuple[str, bool]:
    """``query`` followed by its English terms in brackets, and whether any were added."""
    found = [t for t in english_terms(query, folder) if t.lower() not in query.lower()]
    return (f"{query} ({'; '.join(found)})", True) if found else (query, False)


__all__ = ["english_terms", "with_english_terms"]
