"""Choosing questions for a quiz or a review, given a learner's review and mastery state."""

from __future__ import annotations

import random
from datetime import datetime

from bot.learning.banks import QuizItem
from bot.learning.mastery import score
from bot.store.models import Mastery, ReviewState

#: A competency below this mastery makes its seen items "weak" (asked before new ones).
WEAK_BELOW = 0.6


def choose_items(
    candidates: list[QuizItem],
    reviews: dict[str, ReviewState],
    mastery: dict[str, Mastery],
    n: int,
    now: datetime,
    rng: random.Random,
) -> list[QuizItem]:
    """Pick up to ``n`` items: due first, then weak, then new, then the rest.

    Args:
        candidates: Items in scope.
        reviews: The learner's review state by item id.
        mastery: The learner's competency mastery rows by competency name.
        n: How many to pick.
        now: Current time.
        rng: Random source (new items are shuffled, easier first).

    Returns:
        The chosen items in asking order.
    """
    due, weak, new, rest = [], [], [], []
    for item in candidates:
        row = reviews.get(item.id)
        if row is None:
            new.append(item)
        elif row.due <= now:
            due.append(item)
        elif _weakness(item, mastery) < WEAK_BELOW:
            weak.append(item)
        else:
            rest.append(item)
    due.sort(key=lambda i: reviews[i.id].due)
    weak.sort(key=lambda i: _weakness(i, mastery))
    rng.shuffle(new)
    new.sort(key=lambda i: i.difficulty)  # stable: shuffled within each difficulty
    rest.sort(key=lambda i: reviews[i.id].due)
    return (due + weak + new + rest)[: max(0, n)]


def _weakness(item: QuizItem, mastery: dict[str, Mastery]) -> float:
    """Lowest mastery among the item's competencies (1.0 if none recorded)."""
    values = [score(mastery[c]) for c in item.competencies if c in mastery]
    return min(values) if values else 1.0
