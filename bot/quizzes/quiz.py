"""Choosing questions for a quiz or a review, given a learner's review and mastery state."""

from __future__ import annotations

import random
from datetime import datetime

from bot.language import script_language
from bot.quizzes.banks import QuizItem
from bot.quizzes.mastery import score
from bot.store.models import Mastery, ReviewState

#: A competency below this mastery makes its seen items "weak" (asked before new ones).
WEAK_BELOW = 0.6


def item_language(item: QuizItem) -> str:
    """The language an item is written in: ``hi`` for Devanagari text, else ``en``.

    Args:
        item: A quiz item.

    Returns:
        A language code.
    """
    return script_language(item.question)


def choose_in_language(
    candidates: list[QuizItem],
    language: str | None,
    reviews: dict[str, ReviewState],
    mastery: dict[str, Mastery],
    n: int,
    now: datetime,
    rng: random.Random,
) -> list[QuizItem]:
    """Like :func:`choose_items`, drawing from items in ``language`` first.

    Items in other languages fill the quiz only when the learner's language has too
    few (e.g. a module with a Hindi bank only).

    Args:
        candidates: Items in scope.
        language: The learner's language code (None: no preference).
        reviews, mastery, n, now, rng: As for :func:`choose_items`.

    Returns:
        The chosen items in asking order.
    """
    if not language:
        return choose_items(candidates, reviews, mastery, n, now, rng)
    own = [i for i in candidates if item_language(i) == language]
    others = [i for i in candidates if item_language(i) != language]
    chosen = choose_items(own, reviews, mastery, n, now, rng)
    return chosen + choose_items(others, reviews, mastery, n - len(chosen), now, rng)


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
