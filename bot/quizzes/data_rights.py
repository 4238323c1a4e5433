"""Export and erasure of one learner's data (data-subject rights).

Every learner-owned table is covered, not only the quiz tables of
:data:`bot.store.models.LEARNER_TABLES`: the onboarding track and lessons
(:data:`bot.store.plans_models.PLANS_LEARNER_TABLES`) and the review-reminder schedule
(:data:`bot.store.reminder_models.REMINDER_LEARNER_TABLES`) are exported too, and erased
explicitly rather than through ``ON DELETE CASCADE`` alone.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.engine import rowcount
from bot.store.models import LEARNER_TABLES, Base, Learner
from bot.store.plans_models import PLANS_LEARNER_TABLES
from bot.store.reminder_models import REMINDER_LEARNER_TABLES

#: Every table holding a learner's rows, children first (the order erasure deletes in):
#: onboarding lessons point at quiz sessions, so they go before the quiz tables.
ALL_LEARNER_TABLES = (*PLANS_LEARNER_TABLES, *REMINDER_LEARNER_TABLES, *LEARNER_TABLES)


def _row(obj: Base) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def export_rows(session: Session, learner_id: int) -> dict[str, list[dict[str, Any]]]:
    """Collect every row belonging to ``learner_id``, table by table.

    Args:
        session: Open session.
        learner_id: Learner.

    Returns:
        ``{"learners": [...], "quiz_sessions": [...], "attempts": [...], ...,
        "onboarding_tracks": [...], "onboarding_lessons": [...], "review_reminders": [...]}``
        with Python values (datetimes, lists).

    Raises:
        KeyError: Unknown learner.
    """
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise KeyError(learner_id)
    data: dict[str, list[dict[str, Any]]] = {"learners": [_row(learner)]}
    for model in reversed(ALL_LEARNER_TABLES):
        order = list(model.__table__.primary_key)
        rows = session.scalars(select(model).where(model.learner_id == learner_id).order_by(*order))
        data[model.__tablename__] = [_row(r) for r in rows]
    return data


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def to_json(data: dict[str, list[dict[str, Any]]]) -> str:
    """Serialise :func:`export_rows` output as indented JSON (ISO 8601 timestamps)."""
    plain = {table: [{k: _plain(v) for k, v in row.items()} for row in rows] for table, rows in data.items()}
    return json.dumps(plain, ensure_ascii=False, indent=2)


def to_csv(data: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Serialise :func:`export_rows` output as one CSV text per table.

    List and dict values are written as JSON; every table gets a header row even
    when it has no rows.

    Returns:
        ``{"<table>.csv": text}``.
    """
    out: dict[str, str] = {}
    models: tuple[type[Base], ...] = (Learner, *ALL_LEARNER_TABLES)
    tables = {m.__tablename__: m.__table__ for m in models}
    for name, rows in data.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        columns = [c.key for c in tables[name].columns]
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                json.dumps(row[c], ensure_ascii=False) if isinstance(row[c], (list, dict)) else _plain(row[c])
                for c in columns
            )
        out[f"{name}.csv"] = buffer.getvalue()
    return out


def erase_rows(session: Session, learner_id: int) -> dict[str, int]:
    """Delete every row of ``learner_id`` (children first, then the learner).

    Explicit deletes rather than relying on ``ON DELETE CASCADE``, which SQLite
    enforces only when foreign keys are switched on for the connection.

    Returns:
        Rows deleted per table name.
    """
    counts: dict[str, int] = {}
    for model in ALL_LEARNER_TABLES:
        counts[model.__tablename__] = rowcount(session.execute(delete(model).where(model.learner_id == learner_id)))
    counts["learners"] = rowcount(session.execute(delete(Learner).where(Learner.id == learner_id)))
    return counts
