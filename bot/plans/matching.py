"""Map what a learner calls their job ("I'm the CPIO", "अनुभाग अधिकारी", "section oficer")
to a role of the role model.

Two steps: an exact alias, abbreviation or name found as whole words in the message
wins outright; otherwise character n-gram similarity (the same idea as Rasa's char_wb
features) against every name and alias finds the closest role, and the caller asks the
learner to confirm when the best match is weak or close to the runner-up.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from math import sqrt

from bot.language import WORD
from bot.plans.roles import Role, RoleModel

#: Fuzzy similarity at or above which (with a clear margin) no confirmation is asked.
SURE = 0.72
#: Similarity below which a role is not even offered.
POSSIBLE = 0.34
#: Lead over the runner-up a sure fuzzy match needs.
MARGIN = 0.08
#: Words around a role name in "I am now a PIO", "मैं अब अनुभाग अधिकारी हूँ", "main ab SO hoon".
_FILLER = frozenset(
    ["i", "am", "im", "i'm", "a", "an", "the", "now", "my", "role", "is", "as", "was", "working", "work", "posted", "here", "new", "designation", "job", "change", "set", "to", "of", "in", "at", "officer's", "main", "mai", "ab", "hoon", "hun", "hu", "mera", "meri", "kaam", "karta", "karti", "hai", "मैं", "में", "अब", "हूँ", "हूं", "मेरा", "मेरी", "पद", "है", "के", "रूप", "एक"]
)


@dataclass(frozen=True)
class RoleMatch:
    """The result of matching a text to the role model.

    Attributes:
        role: The best role, or None if nothing is close.
        score: 1.0 for an exact alias, else the n-gram similarity 0-1.
        sure: True when no confirmation is needed.
        candidates: Roles to offer for confirmation, best first (includes ``role``).
    """

    role: Role | None
    score: float
    sure: bool
    candidates: tuple[Role, ...] = ()


def normalise_role_text(text: str) -> str:
    """Case-fold, strip accents and dots ("S.O." -> "so"), keep Devanagari intact."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"(?<=\w)\.(?=\w)|\.(?=\s|$)", "", text)
    return " ".join(WORD.findall(text.replace("&", " and ")))


def _grams(text: str, n: int = 3) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in text.split():
        padded = f" {word} "
        if len(padded) <= n:
            grams[padded] += 1
        for i in range(len(padded) - n + 1):
            grams[padded[i : i + n]] += 1
    return grams


def similarity(a: str, b: str) -> float:
    """Cosine similarity of character trigram counts (word-bounded), 0-1."""
    ga, gb = _grams(a), _grams(b)
    if not ga or not gb:
        return 0.0
    dot = sum(count * gb[g] for g, count in ga.items())
    return dot / (sqrt(sum(c * c for c in ga.values())) * sqrt(sum(c * c for c in gb.values())))


def _names(role: Role) -> list[str]:
    return [n for n in (role.id.replace("-", " "), role.name, *role.other_names, *role.aliases) if n]


def _contains(words: list[str], phrase: list[str]) -> bool:
    k = len(phrase)
    return any(words[i : i + k] == phrase for i in range(len(words) - k + 1))


def _exact(text: str, model: RoleModel) -> Role | None:
    """A role whose name or alias occurs as whole words; the longest such alias wins."""
    words = normalise_role_text(text).split()
    raw_words = WORD.findall(text)
    best: tuple[int, Role] | None = None
    for role in model.roles.values():
        for name in _names(role):
            phrase = normalise_role_text(name).split()
            if not phrase or not _contains(words, phrase):
                continue
            # An all-capitals abbreviation that is also an English word ("US") must be
            # written in capitals inside a sentence: "tell us" is not an Under Secretary.
            bare = name.replace(".", "")
            if bare.isupper() and bare.isascii() and len(words) > 1 and bare not in raw_words:
                continue
            size = sum(len(w) for w in phrase)
            if best is None or size > best[0]:
                best = (size, role)
    return best[1] if best else None


def match_role(text: str, model: RoleModel) -> RoleMatch:
    """Find the role a free-text job description names.

    Args:
        text: What the learner typed, e.g. "I am now a PIO" or "section oficer".
        model: The role model.

    Returns:
        A :class:`RoleMatch`; ``role`` is None when nothing is close enough.
    """
    if not text or not text.strip() or not model.roles:
        return RoleMatch(None, 0.0, False)
    if text.strip() in model.roles:  # a role id, e.g. from a confirmation button
        return RoleMatch(model.roles[text.strip()], 1.0, True, (model.roles[text.strip()],))
    exact = _exact(text, model)
    if exact is not None:
        return RoleMatch(exact, 1.0, True, (exact,))
    core = " ".join(w for w in normalise_role_text(text).split() if w not in _FILLER) or normalise_role_text(text)
    scored = sorted(
        ((max(similarity(core, normalise_role_text(n)) for n in _names(role)), role) for role in model.roles.values()),
        key=lambda pair: -pair[0],
    )
    best_score, best = scored[0]
    if best_score < POSSIBLE:
        return RoleMatch(None, best_score, False)
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    sure = best_score >= SURE and best_score - runner_up >= MARGIN
    candidates = tuple(role for score, role in scored[:3] if score >= POSSIBLE)
    return RoleMatch(best, best_score, sure, candidates)
