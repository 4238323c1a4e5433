"""The Telegram bridge's durable state, on SQLAlchemy (see :mod:`bot.channels.bridge_tables`).

- update claims (``updates``): every ``update_id`` a bridge took on, so an update that
  Telegram delivers again (webhook retry, polling restart, the other bridge behind a
  balancer) is processed once, also across restarts; a chat's updates wait there for its turn;
- chat turns (``chat_turns``): which bridge may work on a chat now, until when
  (:mod:`bot.channels.chat_turns`);
- ``chats``: pseudonymous Rasa sender id -> Telegram chat id, so proactive messages
  (reminders, trainer replies) addressed to a pseudonym can reach the chat;
- ``callback_payloads``: button payloads too long for Telegram's 64-byte ``callback_data``;
- ``quiz_polls``: quiz polls the bridge sent: poll id -> chat, sender, quiz item and the
  Rasa payload of each option, so a ``poll_answer`` update (which names the poll, not
  the chat) becomes the same message a button press of that option would send;
- the outbox (:mod:`bot.channels.outbox`);
- each chat's message budget (:mod:`bot.channels.chat_budget`; it expires its own rows).

All calls are short transactions run on the event loop thread: well under a millisecond
on a local SQLite file, about one round trip to a PostgreSQL on the local network.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, and_, delete, func, or_, select, update

from bot.channels.bridge_tables import (
    callback_payloads,
    chat_budgets,
    chat_turns,
    chats,
    insert_ignoring_conflicts,
    inserted,
    open_bridge_engine,
    proactive_requests,
    quiz_polls,
    updates,
    upsert,
)
from bot.channels.outbox import DEFAULT_EXPIRY_S, Outbox

# Telegram keeps undelivered updates for 24 hours; remembering ids for a week is ample.
UPDATE_RETENTION_S = 7 * 24 * 3600
MAX_CALLBACK_PAYLOADS = 20000
# A paused quiz resumes with a new poll, so an old poll is only kept long enough to be answered.
POLL_RETENTION_S = 7 * 24 * 3600


@dataclass(frozen=True)
class SentPoll:
    """A quiz poll the bridge sent.

    Attributes:
        poll_id: Telegram's poll id.
        chat_id: The chat it was sent to.
        sender: The chat's pseudonymous Rasa sender id.
        item_id: The quiz item it asks.
        message_id: The poll's message (to retire its Skip/Stop buttons).
        answers: The Rasa payload of each option, in option order.
        answered: Whether an answer to this item was already taken from one of the chat's polls.
    """

    poll_id: str
    chat_id: int
    sender: str
    item_id: str
    message_id: int
    answers: tuple[str, ...]
    answered: bool = False


@dataclass(frozen=True)
class WaitingUpdate:
    """An update claimed by some bridge and waiting for its chat's turn.

    Attributes:
        update_id: Telegram's update id.
        payload: The update as Telegram sent it (JSON text).
    """

    update_id: int
    payload: str


class BridgeState:
    """Update claims, chat turns, pseudonym -> chat mapping, long button payloads, quiz polls, the outbox.

    Args:
        url_or_path: ``TELEGRAM_STORE_URL`` (a SQLite or PostgreSQL URL) or a SQLite file path.
        outbox_expiry_s: How long an undelivered message stays in :attr:`outbox`.
        chat_retention_s: drop chat mappings idle this long (``TUTOR_RETENTION_DAYS``) when
            pruning; None keeps them until the learner's data is erased.

    Raises:
        sqlalchemy.exc.OperationalError: The database cannot be reached.
    """

    def __init__(self, url_or_path: str | Path, outbox_expiry_s: float = DEFAULT_EXPIRY_S,
                 chat_retention_s: float | None = None) -> None:
        self.engine: Engine = open_bridge_engine(url_or_path)
        self.chat_retention_s = chat_retention_s
        self.outbox = Outbox(self.engine, outbox_expiry_s)
        self.prune()

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ update claims

    def claim_update(self, bot_id: str, update_id: int) -> bool:
        """Claim an update that is handled at once (it belongs to no chat).

        Claiming happens before the update is handled (at-most-once): if the bridge dies
        mid-way the message is not replayed, which beats sending a quiz answer to Rasa
        twice. Keyed by bot id because update ids are per bot.

        Args:
            bot_id: The bot's numeric id (the token's prefix).
            update_id: Telegram's update id.

        Returns:
            ``True`` for the one caller, of any process, that saw the update first.
        """
        now = time.time()
        statement = insert_ignoring_conflicts(self.engine, updates, bot_id=bot_id, update_id=update_id,
                                              received_at=now, taken_at=now)
        with self.engine.begin() as conn:
            return inserted(conn, statement)

    def enqueue_update(self, bot_id: str, update_id: int, chat_id: int, payload: str) -> bool:
        """Claim a chat's update and leave it waiting for the chat's turn.

        Args:
            bot_id: The bot's numeric id.
            update_id: Telegram's update id.
            chat_id: The chat it belongs to.
            payload: The update's JSON, so whichever bridge holds the chat's turn can handle it.

        Returns:
            ``True`` if this call claimed it; ``False`` for a duplicate (claimed before, here or
            by another bridge).
        """
        statement = insert_ignoring_conflicts(self.engine, updates, bot_id=bot_id, update_id=update_id,
                                              chat_id=chat_id, payload=payload, received_at=time.time())
        with self.engine.begin() as conn:
            return inserted(conn, statement)

    def next_waiting(self, bot_id: str, chat_id: int) -> WaitingUpdate | None:
        """The chat's oldest waiting update (lowest ``update_id``), or None.

        Args:
            bot_id: The bot's numeric id.
            chat_id: The chat.

        Returns:
            The update, still waiting: :meth:`take_update` it before handling it.
        """
        statement = (select(updates.c.update_id, updates.c.payload)
                     .where(updates.c.bot_id == bot_id, updates.c.chat_id == chat_id, updates.c.taken_at.is_(None))
                     .order_by(updates.c.update_id).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(statement).first()
        return None if row is None else WaitingUpdate(int(row[0]), str(row[1]))

    def take_update(self, bot_id: str, update_id: int) -> bool:
        """Mark a waiting update taken (at most once), forgetting its content and chat.

        Args:
            bot_id: The bot's numeric id.
            update_id: Telegram's update id.

        Returns:
            ``True`` if this call took it; ``False`` if it was taken already.
        """
        statement = (update(updates)
                     .where(updates.c.bot_id == bot_id, updates.c.update_id == update_id,
                            updates.c.taken_at.is_(None))
                     .values(taken_at=time.time(), payload=None, chat_id=None))
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def chats_waiting(self, bot_id: str, older_than_s: float = 0.0) -> list[int]:
        """Chats with updates waiting longer than ``older_than_s`` and no live turn lease.

        Args:
            bot_id: The bot's numeric id.
            older_than_s: Only updates received this many seconds ago or earlier.

        Returns:
            Chat ids, the one waiting longest first.
        """
        now = time.time()
        live = select(chat_turns.c.chat_id).where(chat_turns.c.lease_until > now)
        statement = (select(updates.c.chat_id)
                     .where(updates.c.bot_id == bot_id, updates.c.taken_at.is_(None),
                            updates.c.chat_id.is_not(None), updates.c.received_at <= now - older_than_s,
                            updates.c.chat_id.not_in(live))
                     .group_by(updates.c.chat_id).order_by(func.min(updates.c.update_id)))
        with self.engine.connect() as conn:
            return [int(row[0]) for row in conn.execute(statement)]

    # ------------------------------------------------------------------ chat turns

    def acquire_turn(self, chat_id: int, holder: str, lease_s: float) -> bool:
        """Take the chat's turn for ``lease_s`` seconds if nobody holds a live lease on it.

        Args:
            chat_id: The chat.
            holder: The calling bridge's id (unique per process).
            lease_s: Lease length; the holder renews it while it works.

        Returns:
            Whether ``holder`` now holds the turn.
        """
        now = time.time()
        with self.engine.begin() as conn:
            if inserted(conn, insert_ignoring_conflicts(self.engine, chat_turns, chat_id=chat_id, holder=holder,
                                                        lease_until=now + lease_s)):
                return True
            # An expired lease (its holder crashed or hung) passes on; the conditional
            # UPDATE is atomic, so of two bridges taking it over only one succeeds.
            taken = conn.execute(
                update(chat_turns)
                .where(chat_turns.c.chat_id == chat_id,
                       or_(chat_turns.c.lease_until <= now, chat_turns.c.holder == holder))
                .values(holder=holder, lease_until=now + lease_s)).rowcount
            return taken == 1

    def renew_turn(self, chat_id: int, holder: str, lease_s: float) -> bool:
        """Extend ``holder``'s lease on the chat's turn.

        Args:
            chat_id: The chat.
            holder: The bridge's id.
            lease_s: New lease length from now.

        Returns:
            ``False`` if the lease was lost (it expired and another bridge took the turn).
        """
        with self.engine.begin() as conn:
            return conn.execute(
                update(chat_turns).where(chat_turns.c.chat_id == chat_id, chat_turns.c.holder == holder)
                .values(lease_until=time.time() + lease_s)).rowcount == 1

    def release_turn(self, chat_id: int, holder: str) -> None:
        """Give up ``holder``'s turn on the chat (nothing happens if it was lost).

        Args:
            chat_id: The chat.
            holder: The bridge's id.
        """
        with self.engine.begin() as conn:
            conn.execute(delete(chat_turns).where(chat_turns.c.chat_id == chat_id, chat_turns.c.holder == holder))

    # ------------------------------------------------------------------ chat map

    def remember_chat(self, sender: str, chat_id: int) -> None:
        """Store (or refresh) the chat behind a pseudonymous sender id.

        Args:
            sender: The pseudonymous Rasa sender id.
            chat_id: The Telegram chat id.
        """
        statement = upsert(self.engine, chats, ["sender"],
                           {"sender": sender, "chat_id": chat_id, "updated_at": time.time()},
                           ["chat_id", "updated_at"])
        with self.engine.begin() as conn:
            conn.execute(statement)

    def chat_for(self, sender: str) -> int | None:
        """Return the chat id for a pseudonymous sender, or ``None`` if unknown.

        Args:
            sender: The pseudonymous Rasa sender id.

        Returns:
            The Telegram chat id or ``None``.
        """
        with self.engine.connect() as conn:
            value = conn.execute(select(chats.c.chat_id).where(chats.c.sender == sender)).scalar()
        return None if value is None else int(value)

    def forget_chat(self, sender: str) -> bool:
        """Drop the mapping for ``sender``, what still waits for that chat (outbox, proactive requests), its budget.

        Called when the learner erased their data: the queued messages are replies to them
        (their wording quoted back, their progress), so they go too. The reply confirming
        the erasure is queued after this call and is still delivered.

        Args:
            sender: The pseudonymous Rasa sender id.

        Returns:
            ``True`` if a mapping was removed.
        """
        chat_id = self.chat_for(sender)
        with self.engine.begin() as conn:  # all or nothing
            # Reminders and trainer replies other processes left for any bridge to send.
            conn.execute(delete(proactive_requests).where(proactive_requests.c.sender == sender))
            if chat_id is None:
                return False
            conn.execute(delete(chats).where(chats.c.sender == sender))
            conn.execute(delete(quiz_polls).where(quiz_polls.c.chat_id == chat_id))
            conn.execute(delete(chat_budgets).where(chat_budgets.c.chat_id == chat_id))
            self.outbox.remove_chat(chat_id, conn)
        return True

    # ------------------------------------------------------------------ quiz polls

    def put_poll(self, poll: SentPoll) -> None:
        """Remember a quiz poll just sent.

        Args:
            poll: The poll, its chat, quiz item and option payloads.
        """
        values = {"poll_id": poll.poll_id, "chat_id": poll.chat_id, "sender": poll.sender, "item_id": poll.item_id,
                  "message_id": poll.message_id, "answers": json.dumps(list(poll.answers)), "sent_at": time.time(),
                  "answered": 0}
        statement = upsert(self.engine, quiz_polls, ["poll_id"], values, [k for k in values if k != "poll_id"])
        with self.engine.begin() as conn:
            conn.execute(statement)

    def get_poll(self, poll_id: str) -> SentPoll | None:
        """Return the quiz poll with ``poll_id``, or ``None`` if unknown (or pruned).

        Args:
            poll_id: Telegram's poll id from a ``poll_answer`` update.

        Returns:
            The poll as stored.
        """
        p = quiz_polls.c
        with self.engine.connect() as conn:
            row = conn.execute(select(p.poll_id, p.chat_id, p.sender, p.item_id, p.message_id, p.answers, p.answered)
                               .where(p.poll_id == poll_id)).first()
        if row is None:
            return None
        return SentPoll(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]),
                        tuple(json.loads(row[5])), bool(row[6]))

    def latest_poll_item(self, chat_id: int) -> str | None:
        """The quiz item of the newest poll sent to a chat (the question it waits on).

        Args:
            chat_id: Telegram chat id.

        Returns:
            The item id, or ``None`` when no poll is remembered for the chat.
        """
        p = quiz_polls.c
        with self.engine.connect() as conn:
            value = conn.execute(select(p.item_id).where(p.chat_id == chat_id)
                                 .order_by(p.sent_at.desc(), p.message_id.desc()).limit(1)).scalar()
        return None if value is None else str(value)

    def claim_poll_answer(self, poll: SentPoll) -> bool:
        """Mark the chat's polls of ``poll``'s item answered; only the first claim succeeds.

        The same question can be on screen twice (asked again after a digression): one
        answer to either poll is taken, like one button press.

        Args:
            poll: The poll answered.

        Returns:
            ``True`` if no answer to this item was taken from the chat's polls before.
        """
        p = quiz_polls.c
        with self.engine.begin() as conn:
            return conn.execute(update(quiz_polls)
                                .where(p.chat_id == poll.chat_id, p.item_id == poll.item_id, p.answered == 0)
                                .values(answered=1)).rowcount > 0

    # ------------------------------------------------------------------ button payloads

    def put_payload(self, key: str, payload: str) -> None:
        """Keep a long button payload under ``key`` (see :class:`CallbackCodec`).

        Args:
            key: Short key sent as ``callback_data``.
            payload: The full Rasa payload.
        """
        statement = upsert(self.engine, callback_payloads, ["key"],
                           {"key": key, "payload": payload, "used_at": time.time()}, ["used_at"])
        with self.engine.begin() as conn:
            conn.execute(statement)

    def get_payload(self, key: str) -> str | None:
        """Return the payload stored under ``key``, or ``None``.

        Args:
            key: ``callback_data`` of a pressed button.

        Returns:
            The payload, or ``None`` when unknown or pruned.
        """
        with self.engine.connect() as conn:
            value = conn.execute(select(callback_payloads.c.payload).where(callback_payloads.c.key == key)).scalar()
        return None if value is None else str(value)

    def prune(self, now: float | None = None) -> None:
        """Forget old update ids and polls, all but the newest button payloads, and idle chat mappings.

        Args:
            now: Current time (seconds since the epoch); defaults to the clock.
        """
        now = time.time() if now is None else now
        newest = select(callback_payloads.c.key).order_by(callback_payloads.c.used_at.desc()).limit(
            MAX_CALLBACK_PAYLOADS)
        with self.engine.begin() as conn:
            # Only taken ids: a waiting update is still someone's unanswered message.
            conn.execute(delete(updates).where(and_(updates.c.taken_at.is_not(None),
                                                    updates.c.received_at < now - UPDATE_RETENTION_S)))
            conn.execute(delete(quiz_polls).where(quiz_polls.c.sent_at < now - POLL_RETENTION_S))
            if self.chat_retention_s is not None:  # retention: the mapping is the link back to a person
                conn.execute(delete(chats).where(chats.c.updated_at < now - self.chat_retention_s))
            conn.execute(delete(callback_payloads).where(callback_payloads.c.key.not_in(
                select(newest.subquery().c.key))))


def forget_sender(url: str, sender: str) -> bool:
    """Erase a learner's chat mapping, polls and queued replies directly in a shared store.

    For processes other than the bridges (erasure, retention purge) when the bridges share a
    database server: every bridge reads the same rows, so no bridge needs to be reachable.

    Args:
        url: ``TELEGRAM_STORE_URL``.
        sender: The pseudonymous Rasa sender id.

    Returns:
        ``True`` if a mapping was removed.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The store cannot be reached.
    """
    state = BridgeState(url)
    try:
        return state.forget_chat(sender)
    finally:
        state.close()
