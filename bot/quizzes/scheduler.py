"""Spaced review with FSRS (the ``fsrs`` package), stored per learner and item.

A right answer is rated *Good*, a wrong answer or a skip *Again*. FSRS then decides
when the item is due: a missed item comes back within minutes (a learning step),
an item answered right moves out to days, then weeks, as stability grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.models import ReviewState

#: Wrong answers come back after this long (FSRS learning and relearning steps).
DEFAULT_STEPS = (timedelta(minutes=10),)


@dataclass(frozen=True)
class SchedulerConfig:
    """FSRS settings.

    Attributes:
        desired_retention: Target probability of recall when an item falls due.
        steps: Short intervals for new and lapsed items.
        fuzz: Randomise intervals slightly (spreads reviews; off in tests for determinism).
        maximum_interval_days: Upper bound on any interval.
    """

    desired_retention: float = 0.9
    steps: tuple[timedelta, ...] = DEFAULT_STEPS
    fuzz: bool = True
    maximum_interval_days: int = 365


class ReviewScheduler:
    """Applies FSRS to :class:`~bot.store.models.ReviewState` rows.

    Args:
        config: Scheduler settings.
    """

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        from fsrs import Scheduler  # lazy: keeps `import bot.quizzes` light

        self.config = config or SchedulerConfig()
        self._fsrs = Scheduler(
            desired_retention=self.config.desired_retention,
            learning_steps=self.config.steps,
            relearning_steps=self.config.steps,
            maximum_interval=self.config.maximum_interval_days,
            enable_fuzzing=self.config.fuzz,
        )

    def review(self, row: ReviewState | None, correct: bool, now: datetime) -> dict[str, object]:
        """Compute the new review state after one answer.

        Args:
            row: The item's current state, or None if the learner never saw it.
            correct: Whether the answer was right (a skip counts as wrong here).
            now: Answer time, aware UTC.

        Returns:
            Column values for :class:`ReviewState` (``state, step, stability,
            difficulty, due, last_review, reps, lapses``).
        """
        from fsrs import Rating, State

        card = self._card(row, now)
        rating = Rating.Good if correct else Rating.Again
        was_review = card.state == State.Review
        card, _log = self._fsrs.review_card(card, rating, now)
        return {
            "state": int(card.state),
            "step": card.step,
            "stability": card.stability,
            "difficulty": card.difficulty,
            "due": card.due,
            "last_review": card.last_review,
            "reps": (row.reps if row else 0) + 1,
            "lapses": (row.lapses if row else 0) + (1 if was_review and not correct else 0),
        }

    def retrievability(self, row: ReviewState, now: datetime) -> float:
        """Predicted probability (0-1) that the learner recalls the item at ``now``."""
        return float(self._fsrs.get_card_retrievability(self._card(row, now), now))

    @staticmethod
    def _card(row: ReviewState | None, now: datetime):  # -> fsrs.Card
        from fsrs import Card, State

        if row is None:
            # card_id is unused here; passing it avoids fsrs's 1 ms sleep per new card.
            return Card(card_id=0, due=now)
        return Card(
            card_id=0,
            state=State(row.state),
            step=row.step,
            stability=row.stability,
            difficulty=row.difficulty,
            due=row.due,
            last_review=row.last_review,
        )
