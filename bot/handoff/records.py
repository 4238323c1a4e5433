"""Data access for the human loop: queue, askers, outbox, live handoffs, feedback, accounts.

Each method opens its own short transaction through the session factory, so the store
can be shared by the action server's threads and the console's request handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.hours import utcnow
from bot.handoff.similarity import LexicalSimilarity, Similarity
from bot.store.engine import rowcount, session_scope
from bot.store.handoff_models import (
    SENDER_TABLES,
    ConsoleLoginAttempt,
    ConsoleSessionRow,
    Feedback,
    Handoff,
    HandoffMessage,
    Outbox,
    QuestionLog,
    QueueAsker,
    QueueItem,
    TrainerAccount,
)

#: Open items compared against a new question when de-duplicating.
DEDUP_WINDOW = 500
MAX_QUESTION_CHARS = 2000


@dataclass
class ItemView:
    """A queue item as the console and CLI show it."""

    id: int
    kind: str
    question: str
    language: str
    sources: list[str]
    status: str
    ask_count: int
    created_at: datetime
    updated_at: datetime
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    kb_path: str | None = None
    askers: list[dict[str, Any]] = field(default_factory=list)


def _view(item: QueueItem, askers: Sequence[QueueAsker] = ()) -> ItemView:
    return ItemView(
        id=item.id, kind=item.kind, question=item.question, language=item.language, sources=list(item.sources or []),
        status=item.status, ask_count=item.ask_count, created_at=item.created_at, updated_at=item.updated_at,
        answer=item.answer, answered_by=item.answered_by, answered_at=item.answered_at, kb_path=item.kb_path,
        askers=[{"sender": a.sender, "channel": a.channel, "question": a.question, "asked_at": a.asked_at,
                 "notified_at": a.notified_at} for a in askers],
    )


class HandoffRecords:
    """Human-loop tables behind one session factory.

    Args:
        factory: session factory (see :func:`bot.store.session_factory`).
        similarity: decides whether a new question repeats an open one.
        clock: returns the current aware UTC time (tests pass a fixed clock).
    """

    def __init__(self, factory: sessionmaker[Session], similarity: Similarity | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory = factory
        self.similarity = similarity or LexicalSimilarity()
        self.clock = clock

    # ----------------------------------------------------------------- queue
    def add_question(self, kind: str, sender: str, channel: str, question: str, sources: Sequence[str] = (),
                     language: str = "en") -> tuple[int, bool]:
        """File a question, merging it into an open item that asks the same thing.

        Args:
            kind: ``unanswered`` (below the evidence gate), ``request`` (asked for a
                trainer) or ``thumbs_down`` (an answer rated bad).
            sender: the learner's pseudonymous id.
            channel: ``telegram``, ``socketio``, ``rest``...
            question: the learner's wording.
            sources: candidate documents the retriever found.
            language: the learner's language.

        Returns:
            ``(item id, merged)`` - merged is True when an existing item was reused.
        """
        question = " ".join(question.split())[:MAX_QUESTION_CHARS] or "(no question given)"
        now = self.clock()
        with session_scope(self.factory) as s:
            open_items = s.scalars(select(QueueItem).where(QueueItem.status == "open")
                                   .order_by(QueueItem.updated_at.desc()).limit(DEDUP_WINDOW)).all()
            match = self._best_match(question, open_items)
            if match is None:
                item = QueueItem(kind=kind, question=question, language=language, sources=list(sources),
                                 status="open", ask_count=0, created_at=now, updated_at=now)
                s.add(item)
                s.flush()
            else:
                item = match
                item.sources = list(dict.fromkeys([*(item.sources or []), *sources]))
                if kind == "request" and item.kind != "request":
                    item.kind = "request"  # an explicit request outranks a silent decline
            existing = s.scalars(select(QueueAsker).where(QueueAsker.item_id == item.id,
                                                          QueueAsker.sender == sender)).one_or_none()
            if existing is None:
                s.add(QueueAsker(item_id=item.id, sender=sender, channel=channel, question=question, asked_at=now))
                item.ask_count = (item.ask_count or 0) + 1
            item.updated_at = now
            return item.id, match is not None

    def _best_match(self, question: str, items: Sequence[QueueItem]) -> QueueItem | None:
        if not items:
            return None
        scores = self.similarity.scores(question, [i.question for i in items])
        best = max(range(len(items)), key=scores.__getitem__)
        return items[best] if scores[best] >= self.similarity.threshold else None

    def list_items(self, status: str | None = "open", kind: str | None = None, text: str | None = None,
                   limit: int = 200) -> list[ItemView]:
        """Queue items, most asked and most recent first.

        Args:
            status: ``open``, ``answered``, ``closed`` or None for all.
            kind: filter on kind, or None.
            text: case-insensitive substring of the question, or None.
            limit: most rows returned.
        """
        query = select(QueueItem)
        if status:
            query = query.where(QueueItem.status == status)
        if kind:
            query = query.where(QueueItem.kind == kind)
        if text:
            query = query.where(func.lower(QueueItem.question).contains(text.lower()))
        query = query.order_by(QueueItem.ask_count.desc(), QueueItem.updated_at.desc()).limit(limit)
        with session_scope(self.factory) as s:
            return [_view(i) for i in s.scalars(query).all()]

    def get_item(self, item_id: int) -> ItemView | None:
        """One item with its askers, or None."""
        with session_scope(self.factory) as s:
            item = s.get(QueueItem, item_id)
            if item is None:
                return None
            askers = s.scalars(select(QueueAsker).where(QueueAsker.item_id == item_id)
                               .order_by(QueueAsker.asked_at)).all()
            return _view(item, askers)

    def mark_answered(self, item_id: int, answer: str, trainer: str, kb_path: str | None) -> ItemView:
        """Record the trainer's answer on an item.

        Raises:
            KeyError: no such item.
        """
        now = self.clock()
        with session_scope(self.factory) as s:
            item = s.get(QueueItem, item_id)
            if item is None:
                raise KeyError(item_id)
            item.status, item.answer, item.answered_by = "answered", answer, trainer
            item.answered_at, item.updated_at, item.kb_path = now, now, kb_path
        view = self.get_item(item_id)
        assert view is not None
        return view

    def close_item(self, item_id: int) -> None:
        """Close an item without answering (e.g. spam)."""
        with session_scope(self.factory) as s:
            s.execute(update(QueueItem).where(QueueItem.id == item_id).values(status="closed",
                                                                              updated_at=self.clock()))

    def mark_notified(self, item_id: int, sender: str) -> None:
        """Note that the answer reached (or was queued for) one asker."""
        with session_scope(self.factory) as s:
            s.execute(update(QueueAsker).where(QueueAsker.item_id == item_id, QueueAsker.sender == sender)
                      .values(notified_at=self.clock()))

    # ---------------------------------------------------------------- outbox
    def enqueue(self, sender: str, channel: str, text: str, delivered: bool = False) -> int:
        """Keep a message for a learner (delivered=True records one already sent)."""
        now = self.clock()
        with session_scope(self.factory) as s:
            row = Outbox(sender=sender, channel=channel, text=text, created_at=now,
                         delivered_at=now if delivered else None, attempts=1 if delivered else 0)
            s.add(row)
            s.flush()
            return row.id

    def take_pending(self, sender: str) -> list[str]:
        """Undelivered messages for a learner, oldest first, marked delivered."""
        now = self.clock()
        with session_scope(self.factory) as s:
            rows = s.scalars(select(Outbox).where(Outbox.sender == sender, Outbox.delivered_at.is_(None))
                             .order_by(Outbox.id)).all()
            for row in rows:
                row.delivered_at, row.attempts = now, row.attempts + 1
            return [row.text for row in rows]

    def take_pending_many(self, senders: Sequence[str]) -> dict[str, list[str]]:
        """Undelivered messages for several learners at once (marked delivered), by sender."""
        now = self.clock()
        found: dict[str, list[str]] = {}
        senders = list(senders)
        with session_scope(self.factory) as s:
            for start in range(0, len(senders), 500):  # keep IN (...) lists bounded
                rows = s.scalars(select(Outbox).where(Outbox.sender.in_(senders[start:start + 500]),
                                                      Outbox.delivered_at.is_(None)).order_by(Outbox.id)).all()
                for row in rows:
                    row.delivered_at, row.attempts = now, row.attempts + 1
                    found.setdefault(row.sender, []).append(row.text)
        return found

    def pending_count(self, sender: str) -> int:
        """How many messages wait for a learner."""
        with session_scope(self.factory) as s:
            return int(s.scalar(select(func.count()).select_from(Outbox)
                                .where(Outbox.sender == sender, Outbox.delivered_at.is_(None))) or 0)

    # -------------------------------------------------------------- handoffs
    def start_handoff(self, sender: str, channel: str, item_id: int | None) -> int:
        """Open a live handoff (or return the learner's open one)."""
        with session_scope(self.factory) as s:
            current = s.scalars(select(Handoff).where(Handoff.sender == sender, Handoff.status == "active")).first()
            if current is not None:
                return current.id
            row = Handoff(sender=sender, channel=channel, status="active", item_id=item_id, started_at=self.clock())
            s.add(row)
            s.flush()
            return row.id

    def active_handoff(self, sender: str) -> dict[str, Any] | None:
        """The learner's active handoff as a dict, or None."""
        with session_scope(self.factory) as s:
            row = s.scalars(select(Handoff).where(Handoff.sender == sender, Handoff.status == "active")).first()
            return None if row is None else self._handoff_dict(row)

    def latest_handoff(self, sender: str) -> dict[str, Any] | None:
        """The learner's most recent handoff (any status), or None."""
        with session_scope(self.factory) as s:
            row = s.scalars(select(Handoff).where(Handoff.sender == sender).order_by(Handoff.id.desc())).first()
            return None if row is None else self._handoff_dict(row)

    @staticmethod
    def _handoff_dict(row: Handoff) -> dict[str, Any]:
        return {"id": row.id, "sender": row.sender, "channel": row.channel, "status": row.status,
                "item_id": row.item_id, "started_at": row.started_at, "ended_at": row.ended_at,
                "ended_by": row.ended_by}

    def get_handoff(self, handoff_id: int) -> dict[str, Any] | None:
        """A handoff with its messages, or None."""
        with session_scope(self.factory) as s:
            row = s.get(Handoff, handoff_id)
            if row is None:
                return None
            data = self._handoff_dict(row)
            data["messages"] = [{"author": m.author, "trainer": m.trainer, "text": m.text, "at": m.created_at}
                                for m in s.scalars(select(HandoffMessage).where(HandoffMessage.handoff_id == row.id)
                                                   .order_by(HandoffMessage.id)).all()]
            return data

    def list_handoffs(self, status: str | None = "active", limit: int = 100) -> list[dict[str, Any]]:
        """Handoffs, newest first."""
        query = select(Handoff).order_by(Handoff.id.desc()).limit(limit)
        if status:
            query = query.where(Handoff.status == status)
        with session_scope(self.factory) as s:
            return [self._handoff_dict(r) for r in s.scalars(query).all()]

    def add_handoff_message(self, handoff_id: int, sender: str, author: str, text: str,
                            trainer: str | None = None) -> None:
        """Append a message to a handoff's transcript."""
        with session_scope(self.factory) as s:
            s.add(HandoffMessage(handoff_id=handoff_id, sender=sender, author=author, trainer=trainer,
                                 text=text[:MAX_QUESTION_CHARS * 2], created_at=self.clock()))

    def end_handoff(self, handoff_id: int, by: str) -> bool:
        """End a handoff; returns False if it was not active."""
        with session_scope(self.factory) as s:
            result = s.execute(update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "active")
                               .values(status="ended", ended_at=self.clock(), ended_by=by))
            return bool(rowcount(result))

    # ------------------------------------------------------ feedback, logging
    def add_feedback(self, sender: str, channel: str, question: str, sources: Sequence[str], positive: bool) -> int:
        """Store one rating of an answer with the documents it cited."""
        with session_scope(self.factory) as s:
            row = Feedback(sender=sender, channel=channel, question=question[:MAX_QUESTION_CHARS],
                           sources=list(sources), positive=positive, created_at=self.clock())
            s.add(row)
            s.flush()
            return row.id

    def log_question(self, sender: str, channel: str, question: str, answered: bool,
                     sources: Sequence[str] = ()) -> None:
        """Log one knowledge question and whether it was answered (analytics)."""
        with session_scope(self.factory) as s:
            s.add(QuestionLog(sender=sender, channel=channel, question=question[:MAX_QUESTION_CHARS],
                              answered=answered, sources=list(sources), asked_at=self.clock()))

    # -------------------------------------------------------------- accounts
    def create_account(self, username: str, password_hash: str, role: str) -> int:
        """Create a trainer account.

        Raises:
            ValueError: bad role or user name taken.
        """
        if role not in ("trainer", "admin"):
            raise ValueError("role must be trainer or admin")
        try:
            with session_scope(self.factory) as s:
                row = TrainerAccount(username=username, password_hash=password_hash, role=role, active=True,
                                     created_at=self.clock())
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError as exc:
            raise ValueError(f"user {username!r} exists") from exc

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an account's password hash and sign out all its sessions; False if no such account.

        A changed password must lock out whoever knew the old one, including a session they opened.
        """
        with session_scope(self.factory) as s:
            result = s.execute(update(TrainerAccount).where(TrainerAccount.username == username)
                               .values(password_hash=password_hash))
            s.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.username == username))
            return bool(rowcount(result))

    def upgrade_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Store a stronger hash of the same password (sessions stay); only if ``old_hash`` is still current.

        Returns:
            Whether the hash was replaced (False when the password changed meanwhile).
        """
        with session_scope(self.factory) as s:
            result = s.execute(update(TrainerAccount).where(TrainerAccount.username == username,
                                                            TrainerAccount.password_hash == old_hash)
                               .values(password_hash=new_hash))
            return bool(rowcount(result))

    def account(self, username: str) -> dict[str, Any] | None:
        """An active account as a dict, or None."""
        with session_scope(self.factory) as s:
            row = s.scalars(select(TrainerAccount).where(TrainerAccount.username == username,
                                                         TrainerAccount.active.is_(True))).one_or_none()
            return None if row is None else {"username": row.username, "password_hash": row.password_hash,
                                             "role": row.role}

    def list_accounts(self) -> list[dict[str, Any]]:
        """All accounts (no hashes)."""
        with session_scope(self.factory) as s:
            return [{"username": r.username, "role": r.role, "active": r.active, "created_at": r.created_at}
                    for r in s.scalars(select(TrainerAccount).order_by(TrainerAccount.username)).all()]

    # ------------------------------------------------------- console sessions
    def save_console_session(self, token_hash: str, username: str, role: str, csrf: str,
                             expires_at: datetime) -> None:
        """Store a new console session (and drop expired ones while at it)."""
        with session_scope(self.factory) as s:
            s.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < self.clock()))
            s.add(ConsoleSessionRow(token_hash=token_hash, username=username, role=role, csrf=csrf,
                                    expires_at=expires_at))

    def console_session(self, token_hash: str) -> dict[str, Any] | None:
        """A live session by token hash, or None; an expired one is deleted."""
        with session_scope(self.factory) as s:
            row = s.get(ConsoleSessionRow, token_hash)
            if row is None:
                return None
            if row.expires_at < self.clock():
                s.delete(row)
                return None
            return {"username": row.username, "role": row.role, "csrf": row.csrf, "expires_at": row.expires_at}

    def drop_console_session(self, token_hash: str) -> None:
        """Log a session out."""
        with session_scope(self.factory) as s:
            s.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == token_hash))

    # --------------------------------------------------- console sign-in attempts
    def reserve_login_attempt(self, name_hash: str, window_s: float, limit: int) -> int | None:
        """Count a sign-in attempt before its password is checked; refuse it past ``limit``.

        The row is committed first and counted afterwards, in separate transactions, so of
        any number of concurrent attempts (in any console process) at most ``limit`` see a
        count within the limit. A refused attempt removes its row again: the lockout ends
        ``window_s`` after the last counted failure. Rows older than the window are pruned.

        Args:
            name_hash: SHA-256 of the user name typed.
            window_s: seconds an attempt counts for.
            limit: attempts allowed within the window.

        Returns:
            The attempt's id (keep it on failure, :meth:`clear_login_attempts` on success),
            or None when the name is locked for now.
        """
        now = self.clock()
        since = now - timedelta(seconds=window_s)
        with session_scope(self.factory) as s:
            s.execute(delete(ConsoleLoginAttempt).where(ConsoleLoginAttempt.attempted_at < since))
            row = ConsoleLoginAttempt(name_hash=name_hash, attempted_at=now)
            s.add(row)
            s.flush()
            attempt_id = row.id
        with session_scope(self.factory) as s:
            count = s.execute(select(func.count()).select_from(ConsoleLoginAttempt)
                              .where(ConsoleLoginAttempt.name_hash == name_hash,
                                     ConsoleLoginAttempt.attempted_at >= since)).scalar_one()
        if count <= limit:
            return attempt_id
        with session_scope(self.factory) as s:  # its own write transaction: SQLite cannot upgrade a read one
            s.execute(delete(ConsoleLoginAttempt).where(ConsoleLoginAttempt.id == attempt_id))
        return None

    def clear_login_attempts(self, name_hash: str) -> None:
        """Forget a user name's attempts after a successful sign-in."""
        with session_scope(self.factory) as s:
            s.execute(delete(ConsoleLoginAttempt).where(ConsoleLoginAttempt.name_hash == name_hash))

    # ---------------------------------------------------------------- privacy
    def export_sender(self, sender: str) -> dict[str, list[dict[str, Any]]]:
        """Every human-loop row of one learner, table by table (data-subject export).

        Includes the learner's questions to the trainers (with the trainer's answer when
        given), live-handoff transcripts (both sides: every message carries the learner's
        sender id), messages kept for them, ratings and the question log.

        Returns:
            ``{table name: [row as a dict, ...]}`` with Python values.
        """
        def row(obj: Any) -> dict[str, Any]:
            return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}

        data: dict[str, list[dict[str, Any]]] = {}
        with session_scope(self.factory) as s:
            for table in reversed(SENDER_TABLES):
                data[table.__tablename__] = [row(r) for r in s.scalars(select(table).where(table.sender == sender)
                                                                        .order_by(table.id)).all()]
            for asked in data.get(QueueAsker.__tablename__, []):
                item = s.get(QueueItem, asked["item_id"])
                asked["trainer_answer"] = item.answer if item is not None else None
        return data

    def published_wordings(self, sender: str) -> list[tuple[str, str]]:
        """``(kb_path, wording)`` for each FAQ-published item this learner asked (erasure).

        Lets the caller remove an FAQ document that still carries the learner's own words
        (written before FAQs took the trainer's wording, or confirmed unchanged).
        """
        with session_scope(self.factory) as s:
            rows = s.execute(select(QueueItem.kb_path, QueueAsker.question)
                             .join(QueueAsker, QueueAsker.item_id == QueueItem.id)
                             .where(QueueAsker.sender == sender, QueueItem.kb_path.is_not(None))).all()
            return [(str(path), str(wording)) for path, wording in rows]

    def erase_sender(self, sender: str) -> dict[str, int]:
        """Delete every human-loop row of one learner; drop items nobody else asked.

        Returns:
            Rows deleted per table.
        """
        counts: dict[str, int] = {}
        with session_scope(self.factory) as s:
            asked = s.execute(select(QueueAsker.item_id, QueueAsker.question).where(QueueAsker.sender == sender)).all()
            for table in SENDER_TABLES:
                counts[table.__tablename__] = rowcount(s.execute(delete(table).where(table.sender == sender)))
            orphaned = reworded = 0
            for item_id, wording in asked:
                item = s.get(QueueItem, item_id)
                if item is None:
                    continue
                others = s.scalars(select(QueueAsker).where(QueueAsker.item_id == item_id)
                                   .order_by(QueueAsker.asked_at, QueueAsker.id)).all()
                if not others:
                    s.delete(item)
                    orphaned += 1
                    continue
                item.ask_count = len(others)
                if item.question == wording:
                    # The item was filed in this learner's words: show the next asker's instead.
                    item.question = others[0].question
                    reworded += 1
            counts["queue_items"] = orphaned
            counts["queue_items_reworded"] = reworded
        return counts

    def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete rows older than ``days`` whatever the learner's activity (retention).

        Question-log and feedback rows, delivered outbox messages, and ended handoffs with
        their transcripts. Open queue items and their askers stay until answered or erased.

        Args:
            days: Retention period.
            now: The current time (default: the store's clock).

        Returns:
            Rows deleted.
        """
        cutoff = (now or self.clock()) - timedelta(days=days)
        with session_scope(self.factory) as s:
            n = rowcount(s.execute(delete(QuestionLog).where(QuestionLog.asked_at < cutoff)))
            n += rowcount(s.execute(delete(Feedback).where(Feedback.created_at < cutoff)))
            n += rowcount(s.execute(delete(Outbox).where(Outbox.delivered_at < cutoff)))
            ended = select(Handoff.id).where(Handoff.status == "ended", Handoff.ended_at < cutoff)
            n += rowcount(s.execute(delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(ended))))
            n += rowcount(s.execute(delete(Handoff).where(Handoff.id.in_(ended))))
            return n
