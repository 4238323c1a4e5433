"""Figures for the trainers: questions per day, answered vs declined, unanswered topics,
worst-rated sources, quiz item difficulty and discrimination, active learners.

Difficulty is the share of correct first attempts per item; discrimination is the
point-biserial correlation between getting the item right and the learner's share
correct on *other* items (the "rest score"), so an item does not correlate with itself.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.hours import utcnow
from bot.store.engine import session_scope
from bot.store.handoff_models import Feedback, QuestionLog, QueueItem
from bot.store.models import Attempt, Learner

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV injection: = + - @ tab CR).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """A named table of rows for display and CSV export."""

    name: str
    columns: list[str]
    rows: list[list[Any]]

    def to_csv(self) -> str:
        """The table as CSV text; text cells a spreadsheet would read as a formula get a leading ``'``."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([("'" + c) if isinstance(c, str) and c.startswith(FORMULA_PREFIXES) else c for c in row])
        return out.getvalue()


def questions_per_day(s: Session, days: int, today: date) -> Table:
    """Questions per day split into answered and declined, oldest day first."""
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    counts: dict[tuple[date, bool], int] = Counter()
    for asked_at, answered in s.execute(select(QuestionLog.asked_at, QuestionLog.answered)
                                        .where(QuestionLog.asked_at >= start)):
        counts[(asked_at.date(), bool(answered))] += 1
    rows = []
    for offset in range(days):
        day = today - timedelta(days=days - 1 - offset)
        rows.append([day.isoformat(), counts[(day, True)], counts[(day, False)]])
    return Table("questions_per_day", ["day", "answered", "declined"], rows)


def top_unanswered(s: Session, limit: int = 15) -> Table:
    """Open queue items, most askers first."""
    rows = s.execute(select(QueueItem.id, QueueItem.question, QueueItem.ask_count, QueueItem.kind)
                     .where(QueueItem.status == "open")
                     .order_by(QueueItem.ask_count.desc(), QueueItem.updated_at.desc()).limit(limit)).all()
    return Table("top_unanswered", ["item", "question", "askers", "kind"], [list(r) for r in rows])


def worst_rated_sources(s: Session, limit: int = 15) -> Table:
    """Cited documents by thumbs-down count (with thumbs-up for scale)."""
    up: Counter[str] = Counter()
    down: Counter[str] = Counter()
    for sources, positive in s.execute(select(Feedback.sources, Feedback.positive)):
        for source in sources or ["(none)"]:
            (up if positive else down)[source] += 1
    names = sorted(set(up) | set(down), key=lambda n: (-down[n], up[n], n))[:limit]
    return Table("worst_rated_sources", ["source", "thumbs_down", "thumbs_up", "share_down"],
                 [[n, down[n], up[n], round(down[n] / (down[n] + up[n]), 2)] for n in names])


def worst_rated_answers(s: Session, limit: int = 15) -> Table:
    """Questions whose answers got the most thumbs-down."""
    rows = s.execute(select(Feedback.question, func.count()).where(Feedback.positive.is_(False))
                     .group_by(Feedback.question).order_by(func.count().desc()).limit(limit)).all()
    return Table("worst_rated_answers", ["question", "thumbs_down"], [list(r) for r in rows])


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sx * sy)


def item_statistics(s: Session, limit: int = 50) -> Table:
    """Per quiz item: learners, share correct (difficulty), discrimination (rest-score correlation)."""
    first: dict[tuple[int, str], bool] = {}
    modules: dict[str, str] = {}
    for learner_id, item_id, module, correct, skipped in s.execute(
            select(Attempt.learner_id, Attempt.item_id, Attempt.module, Attempt.correct, Attempt.skipped)
            .order_by(Attempt.answered_at)):
        modules[item_id] = module
        first.setdefault((learner_id, item_id), bool(correct) and not skipped)
    by_learner: dict[int, dict[str, bool]] = defaultdict(dict)
    for (learner_id, item_id), correct in first.items():
        by_learner[learner_id][item_id] = correct
    rows = []
    for item_id in sorted(modules):
        xs, ys = [], []
        for answers in by_learner.values():
            if item_id not in answers:
                continue
            rest = [v for k, v in answers.items() if k != item_id]
            if rest:
                xs.append(1.0 if answers[item_id] else 0.0)
                ys.append(sum(rest) / len(rest))
        takers = [a[item_id] for a in by_learner.values() if item_id in a]
        disc = _pearson(xs, ys)
        rows.append([item_id, modules[item_id], len(takers), round(sum(takers) / len(takers), 2),
                     None if disc is None else round(disc, 2)])
    rows.sort(key=lambda r: (r[3], r[0]))
    return Table("quiz_items", ["item", "module", "learners", "share_correct", "discrimination"], rows[:limit])


def active_learners(s: Session, now: datetime) -> Table:
    """Distinct learners active in the last 1, 7 and 30 days (learner store and question log)."""
    rows = []
    for days in (1, 7, 30):
        since = now - timedelta(days=days)
        store = s.scalar(select(func.count()).select_from(Learner).where(Learner.last_seen_at >= since)) or 0
        askers = s.scalar(select(func.count(func.distinct(QuestionLog.sender))).where(QuestionLog.asked_at >= since))
        rows.append([f"last {days} day(s)", int(store), int(askers or 0)])
    return Table("active_learners", ["period", "learners_in_store", "learners_asking"], rows)


def completion_by_group(s: Session) -> Table:
    """Per role and department: learners, learners who attempted a quiz, mean share correct."""
    attempts: dict[int, list[bool]] = defaultdict(list)
    for learner_id, correct in s.execute(select(Attempt.learner_id, Attempt.correct)):
        attempts[learner_id].append(bool(correct))
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for learner_id, role, department in s.execute(select(Learner.id, Learner.role, Learner.department)):
        groups[(role or "(unknown)", department or "(unknown)")].append(learner_id)
    rows = []
    for (role, department), ids in sorted(groups.items()):
        active = [i for i in ids if attempts.get(i)]
        shares = [sum(attempts[i]) / len(attempts[i]) for i in active]
        rows.append([role, department, len(ids), len(active),
                     round(sum(shares) / len(shares), 2) if shares else None])
    return Table("completion_by_group", ["role", "department", "learners", "took_quizzes", "mean_share_correct"], rows)


def all_tables(factory: sessionmaker[Session], days: int = 14, now: datetime | None = None) -> dict[str, Table]:
    """Every analytics table by name."""
    now = now or utcnow()
    with session_scope(factory) as s:
        tables = [questions_per_day(s, days, now.date()), top_unanswered(s), worst_rated_sources(s),
                  worst_rated_answers(s), item_statistics(s), active_learners(s, now), completion_by_group(s)]
    return {t.name: t for t in tables}
