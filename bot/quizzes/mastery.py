"""Mastery: exponentially weighted recent correctness per competency and per module.

``score = weighted_correct / weight`` where each new answer first decays both sums by
``1 - ALPHA``. Dividing by the decayed weight removes the cold-start bias of a plain
moving average, so one right answer gives 1.0 rather than ``ALPHA``; recent answers
dominate, so a learner who improves sees it quickly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.store.models import Mastery

#: Weight of the newest answer; 0.3 means the last ~5 answers carry most of the score.
ALPHA = 0.3
#: Below this many answers a score is not called mastered, however high.
MIN_ATTEMPTS_FOR_MASTERY = 3


def update_mastery(session: Session, learner_id: int, kind: str, key: str, correct: bool, now: datetime) -> Mastery:
    """Fold one answer into the learner's mastery of a competency or module.

    Args:
        session: Open session (the caller's transaction).
        learner_id: Learner.
        kind: ``"competency"`` or ``"module"``.
        key: Competency name or module id.
        correct: Whether the answer was right.
        now: Answer time.

    Returns:
        The updated row.
    """
    row = session.get(Mastery, (learner_id, kind, key), with_for_update=True)
    if row is None:
        row = Mastery(
            learner_id=learner_id,
            kind=kind,
            key=key,
            weighted_correct=0.0,
            weight=0.0,
            attempts=0,
            correct=0,
            updated_at=now,
        )
        session.add(row)
    row.weighted_correct = (1 - ALPHA) * row.weighted_correct + ALPHA * (1.0 if correct else 0.0)
    row.weight = (1 - ALPHA) * row.weight + ALPHA
    row.attempts += 1
    row.correct += 1 if correct else 0
    row.updated_at = now
    return row


def score(row: Mastery) -> float:
    """Mastery score 0-1 of a row (0 when there is no evidence)."""
    return row.weighted_correct / row.weight if row.weight else 0.0


def level(value: float, attempts: int) -> str:
    """Name a mastery score for learners.

    Args:
        value: Score 0-1.
        attempts: Number of answers behind it.

    Returns:
        ``"mastered"``, ``"developing"`` or ``"needs practice"``.
    """
    if value >= 0.8 and attempts >= MIN_ATTEMPTS_FOR_MASTERY:
        return "mastered"
    if value >= 0.5:
        return "developing"
    return "needs practice"
