"""SQLAlchemy models of the human loop: the trainers' queue, live handoffs, feedback.

Rows that belong to a learner carry the learner's pseudonymous Rasa sender id
(``sender``) so that erasure is one ``WHERE sender = ?`` per table (see
:func:`bot.handoff.records.HandoffRecords.erase_sender`). No raw channel ids are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime


class QueueItem(Base):
    """One question for the trainers; many learners may have asked it (see :class:`QueueAsker`)."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # unanswered | request | thumbs_down
    question: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    sources: Mapped[list[str]] = mapped_column(JSON)  # candidate documents the retriever found
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | closed
    ask_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    kb_path: Mapped[str | None] = mapped_column(String(255), nullable=True)


class QueueAsker(Base):
    """A learner who asked a queue item's question, and whether the answer reached them."""

    __tablename__ = "queue_askers"
    __table_args__ = (UniqueConstraint("item_id", "sender", name="uq_queue_askers_item_sender"),
                      Index("ix_queue_askers_sender", "sender"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)  # this learner's own wording
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Outbox(Base):
    """A message for a learner from a trainer, delivered now (Telegram) or on their next turn."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_sender_delivered", "sender", "delivered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Handoff(Base):
    """A live conversation between a learner and a trainer."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_sender_status", "sender", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | ended
    item_id: Mapped[int | None] = mapped_column(ForeignKey("queue_items.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # learner | trainer


class HandoffMessage(Base):
    """One message in a live handoff (either direction)."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(128))
    author: Mapped[str] = mapped_column(String(16))  # learner | trainer
    trainer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Feedback(Base):
    """A thumbs up or down on one answer, with the documents it cited."""

    __tablename__ = "answer_feedback"
    __table_args__ = (Index("ix_answer_feedback_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[str]] = mapped_column(JSON)
    positive: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestionLog(Base):
    """Every knowledge question and its outcome (answered or declined), for analytics."""

    __tablename__ = "question_log"
    __table_args__ = (Index("ix_question_log_asked", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean)
    sources: Mapped[list[str]] = mapped_column(JSON)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrainerAccount(Base):
    """A console login. ``password_hash`` is an scrypt hash (see :mod:`bot.console.passwords`)."""

    __tablename__ = "trainer_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # trainer | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsoleSessionRow(Base):
    """A signed-in console user. Only a hash of the cookie's token is stored, so a copy of
    the database does not hold live session ids."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ConsoleLoginAttempt(Base):
    """A console sign-in attempt in flight or failed, counted against a user name for a few
    minutes. Shared by every console process; rows older than the window are pruned. The
    user name is stored as a SHA-256 (a password typed into the name field stays unreadable)."""

    __tablename__ = "console_login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name_hash: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


#: Tables with a ``sender`` column (a learner's rows), children first: erasure order.
SenderTable = type[HandoffMessage] | type[Handoff] | type[QueueAsker] | type[Outbox] | type[Feedback] | type[QuestionLog]
SENDER_TABLES: tuple[SenderTable, ...] = (HandoffMessage, Handoff, QueueAsker, Outbox, Feedback, QuestionLog)

__all__: list[Any] = ["ConsoleLoginAttempt", "ConsoleSessionRow", "Feedback", "Handoff", "HandoffMessage", "Outbox",
                      "QueueAsker", "QueueItem", "QuestionLog", "SENDER_TABLES", "TrainerAccount"]
