"""Learners' data rights (India's DPDP Act 2023): consent, withdrawal, erasure, export, retention.

Where a learner's data lives, and how each store is erased:

==========================  ===============================  ===================================
store                       what                             erased by
==========================  ===============================  ===================================
learner store (SQL)         profile, attempts, review state, :meth:`bot.quizzes.Quizzes.erase`
                            mastery, quiz sessions,
                            onboarding track and lessons,
                            review-reminder schedule
human-loop tables (same DB) queue askers, handoffs, outbox,  :meth:`bot.handoff.records.HandoffRecords.erase_sender`
                            feedback, question log
Rasa tracker (scaled mode)  conversation events (PostgreSQL  ``DELETE FROM events WHERE sender_id``
                            ``events`` table)                (:func:`erase_tracker_events`); the
                                                             tracker store then saves only the
                                                             events after the erasure
Rasa tracker (one machine)  in-memory events                 the action's ``Restarted``: the
                                                             tracker store keeps only what follows
                                                             it (:mod:`rasa_plugins.erasure`)
Telegram bridge             pseudonym -> chat id mapping,    the bridges' shared store when it is
                            quiz polls, queued replies       a database server, else ``POST /forget``
                                                             on the bridge's loopback port
                                                             (:func:`forget_telegram_chat`)
knowledge folder            FAQ documents still in the       :func:`remove_worded_faqs`
                            learner's own words
==========================  ===============================  ===================================

The Telegram bridge's de-duplication keys are update ids (no learner data) and expire on
their own (an update's content is kept only while it waits for its chat's turn, seconds); the pseudonym mapping is the only link back to a person there, and the bridge
drops mappings idle beyond the retention period. A queue item that several learners asked
takes the next asker's wording when the one whose words it carried is erased; FAQ
documents publish the question as the trainer wrote or confirmed it.

Consent: nothing about a learner is stored in the learner tables before they accept the
notice: no learner row, profile, onboarding track or lesson, review reminder or quiz answer
(:func:`consented_learner` never creates a row; the actions show the notice instead, and the
onboarding and reminder jobs skip learners without consent). A decline stores nothing.

Withdrawal (:func:`withdraw_consent`): as easy as giving it ("I withdraw my consent", the
Telegram menu, the help button, or "I do not agree" from a learner who had agreed). After a
confirmation it clears the consent flag and erases everything exactly as "delete my data"
does, so nothing more is stored in the learner tables until the learner accepts again.

Retention (:func:`purge`): activity is any quiz, question, rating or handoff message;
senders inactive beyond ``TUTOR_RETENTION_DAYS`` are erased from every store, and older
question-log, feedback and ended-handoff rows of everyone are deleted.

Export (:func:`export_learner`, :func:`export_file`): every learner table (onboarding and
review-reminder tables included) and the human-loop rows as one JSON file, a download in
the widget and a document on Telegram.

CLI::

    python -m bot.privacy purge --older-than-days N   # retention job (default TUTOR_RETENTION_DAYS)
    python -m bot.privacy erase --channel telegram --sender tg-...
    python -m bot.privacy export --channel socketio --sender abc
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("bot.privacy")

#: Default retention of inactive learners' data, days (``TUTOR_RETENTION_DAYS``).
DEFAULT_RETENTION_DAYS = 365


@dataclass
class ErasureReport:
    """Rows (or keys) removed per store; ``errors`` names stores that could not be reached."""

    removed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every store was reached."""
        return not self.errors


# ---------------------------------------------------------------------- consent


def has_consent(quizzes: Any, learner_id: int) -> bool:
    """True when the learner accepted the privacy notice (progress may be stored).

    Args:
        quizzes: A :class:`bot.quizzes.Quizzes`.
        learner_id: Learner id from ``quizzes.learner(channel, external_id)``.
    """
    from bot.store.engine import session_scope
    from bot.store.models import Learner

    with session_scope(quizzes._sessions) as s:
        row = s.get(Learner, learner_id)
        return bool(row is not None and row.consent)


def record_consent(quizzes: Any, learner_id: int, accepted: bool) -> None:
    """Store the learner's answer to the notice (timestamped by ``update_profile``)."""
    quizzes.update_profile(learner_id, consent=bool(accepted))


def answer_notice(quizzes: Any, channel: str, sender: str, accepted: bool) -> int | None:
    """Record a learner's answer to the notice without storing anyone who declined.

    A learner row is created only on acceptance; a decline of someone never stored
    leaves no row at all, and a decline of a stored learner clears the flag (the chat
    asks a learner who had agreed to confirm a full withdrawal instead:
    :func:`withdraw_consent`).

    Args:
        quizzes: A :class:`bot.quizzes.Quizzes`.
        channel / sender: The learner's key (``actions.common.learner_key``).
        accepted: Whether they accepted.

    Returns:
        The learner id, or None when nothing is stored about them.
    """
    if accepted:
        learner_id = quizzes.learner(channel, sender, consent=True)
        record_consent(quizzes, learner_id, True)  # an existing row that had declined
        return learner_id
    learner_id = _find_learner(quizzes, channel, sender)
    if learner_id is not None:
        record_consent(quizzes, learner_id, False)
    return learner_id


def consented_learner(quizzes: Any, channel: str, sender: str, **profile: Any) -> int | None:
    """The id of a learner who accepted the notice (their activity time refreshed), else None.

    Never creates a learner row: nothing about a learner is stored before consent.

    Args:
        quizzes: A :class:`bot.quizzes.Quizzes`.
        channel / sender: The learner's key.
        **profile: passed to ``quizzes.learner`` (ignored for an existing row).
    """
    learner_id = _find_learner(quizzes, channel, sender)
    if learner_id is None or not has_consent(quizzes, learner_id):
        return None
    return quizzes.learner(channel, sender, **profile)  # refreshes last_seen_at


# ---------------------------------------------------------------------- settings from the environment


def tracker_db_url() -> str | None:
    """SQLAlchemy URL of Rasa's SQL tracker store (scaled mode), or None on one machine.

    From :attr:`bot.config.Settings.tracker_db_url` (``TRACKER_DATABASE_URL`` or the
    ``TRACKER_DB_*`` variables that ``endpoints.scaled.yml`` uses).
    """
    from bot.config import load_settings

    return load_settings().tracker_db_url or None


def retention_days() -> int:
    """``TUTOR_RETENTION_DAYS`` (default :data:`DEFAULT_RETENTION_DAYS`)."""
    from bot.config import load_settings

    return load_settings().retention_days


# ---------------------------------------------------------------------- the stores


def _engine(url: str):
    from bot.store.engine import make_engine

    return make_engine(url)


def erase_tracker_events(url: str, sender: str) -> int:
    """Delete every Rasa tracker event of ``sender`` from the SQL tracker store.

    Args:
        url: SQLAlchemy URL of the tracker database.
        sender: Rasa sender id.

    Returns:
        Rows deleted.
    """
    from sqlalchemy import text

    engine = _engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender}).rowcount or 0
    finally:
        engine.dispose()


def count_tracker_events(url: str, sender: str) -> int:
    """Number of tracker events stored for ``sender`` (tests, export)."""
    from sqlalchemy import text

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar())
    finally:
        engine.dispose()


def forget_telegram_chat(sender: str, port: int, token: str) -> bool:
    """Erase the Telegram bridge's chat mapping (with its polls and queued replies) for ``sender``.

    Bridges that share a database server (``TELEGRAM_STORE_URL``, scaled mode) are erased in
    that store, from any machine and whichever bridges run; a bridge's own SQLite file is
    reached through that bridge's loopback endpoint. Either way :meth:`BridgeState.forget_chat` runs.

    Returns:
        True if a mapping was removed.

    Raises:
        OSError: neither the store nor the bridge is reachable (caller decides whether it must be).
    """
    from bot.config import load_settings

    url = load_settings().telegram_store_url
    if url.startswith(("postgresql", "postgres:")):
        from sqlalchemy.exc import SQLAlchemyError

        from bot.channels.bridge_state import forget_sender

        try:
            return forget_sender(url, sender)
        except SQLAlchemyError as exc:
            raise OSError(f"Telegram bridge store unreachable ({type(exc).__name__})") from exc
    return forget_in_bridge(sender, port, token)


def forget_in_bridge(sender: str, port: int, token: str, timeout: float = 5.0) -> bool:
    """Ask the Telegram bridge to drop its pseudonym -> chat mapping for ``sender``.

    Returns:
        True if a mapping was removed.

    Raises:
        OSError: the bridge is not reachable (caller decides whether it must be).
    """
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/forget", data=json.dumps({"sender": sender}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return bool(json.load(resp).get("forgotten"))


def _handoff_store(quizzes: Any):
    try:
        from bot.handoff.records import HandoffRecords
    except ImportError:  # the human-loop package is optional
        return None
    from bot.store.engine import session_factory

    return HandoffRecords(session_factory(quizzes.engine))


def _find_learner(quizzes: Any, channel: str, sender: str) -> int | None:
    from sqlalchemy import select

    from bot.store.engine import session_scope
    from bot.store.models import Learner

    with session_scope(quizzes._sessions) as s:
        return s.scalars(select(Learner.id).where(Learner.channel == channel, Learner.external_id == sender)).first()


def remove_worded_faqs(kb_dir: Path, published: list[tuple[str, str]]) -> int:
    """Delete FAQ documents whose question is a learner's own wording, verbatim.

    Args:
        kb_dir: The knowledge folder (the watcher drops removed files from the index).
        published: ``(kb_path, wording)`` from :meth:`HandoffRecords.published_wordings`.

    Returns:
        Files removed.
    """
    from bot.handoff.faq import FAQ_FOLDER

    removed = 0
    root = (kb_dir / FAQ_FOLDER).resolve()
    for rel, wording in published:
        path = (kb_dir / rel).resolve()
        if path.parent != root or not path.is_file():  # only files the console wrote
            continue
        heading = "# " + " ".join(wording.split())
        if heading in path.read_text(encoding="utf-8", errors="replace").splitlines():
            path.unlink()
            removed += 1
    if removed:
        log.info("erasure: removed %d FAQ document(s) worded by the learner", removed)
    return removed


def erase_learner(quizzes: Any, channel: str, sender: str, *, tracker_url: str | None = None,
                  bridge_port: int | None = None, bridge_token: str | None = None,
                  kb_dir: Path | None = None) -> ErasureReport:
    """Erase one learner from every store (see the module docstring).

    Args:
        quizzes: The quiz service (learner store and quiz bank).
        channel / sender: The learner's key (``actions.common.learner_key``).
        tracker_url: SQL tracker store URL (scaled mode); None: in-memory tracker.
        bridge_port / bridge_token: the Telegram bridge's loopback endpoint, for ``tg-`` senders.
        kb_dir: The knowledge folder: FAQ documents in the learner's own words are removed.

    Returns:
        What was removed where; stores that failed are in ``errors`` (the caller tells the
        learner erasure is incomplete rather than confirming it).
    """
    report = ErasureReport()
    learner_id = _find_learner(quizzes, channel, sender)
    if learner_id is not None:
        for table, n in quizzes.erase(learner_id).items():
            report.removed[table] = report.removed.get(table, 0) + n
    handoff = _handoff_store(quizzes)
    if handoff is not None:
        try:
            published = handoff.published_wordings(sender) if kb_dir is not None else []
            for table, n in handoff.erase_sender(sender).items():
                report.removed[table] = n
            if published and kb_dir is not None:
                report.removed["faq_documents"] = remove_worded_faqs(kb_dir, published)
        except Exception as exc:  # e.g. tables not migrated in an old database
            report.errors["handoff"] = type(exc).__name__
    if tracker_url:
        try:
            report.removed["tracker_events"] = erase_tracker_events(tracker_url, sender)
        except Exception as exc:
            report.errors["tracker"] = type(exc).__name__
    if sender.startswith("tg-") and bridge_port and bridge_token:
        try:
            report.removed["telegram_mapping"] = int(forget_telegram_chat(sender, bridge_port, bridge_token))
        except (OSError, urllib.error.URLError) as exc:
            report.errors["telegram_bridge"] = type(exc).__name__
    log.info("erasure: %d rows removed, incomplete stores: %s", sum(report.removed.values()),
             ",".join(report.errors) or "none")
    return report


def withdraw_consent(quizzes: Any, channel: str, sender: str, **stores: Any) -> ErasureReport:
    """Withdraw the learner's consent: clear the flag, then erase them as :func:`erase_learner`.

    The flag is cleared first, in its own transaction, so that even if a later store fails
    nothing more is stored about the learner; the erasure then removes the learner row
    itself, so they are asked for consent again before anything is stored.

    Args:
        quizzes: The quiz service (learner store and quiz bank).
        channel / sender: The learner's key (``actions.common.learner_key``).
        **stores: ``tracker_url``, ``bridge_port``, ``bridge_token``, ``kb_dir`` as for
            :func:`erase_learner`.

    Returns:
        The :class:`ErasureReport` of the erasure.
    """
    learner_id = _find_learner(quizzes, channel, sender)
    if learner_id is not None:
        record_consent(quizzes, learner_id, False)
    log.info("consent withdrawn: erasing the learner")
    return erase_learner(quizzes, channel, sender, **stores)


def export_learner(quizzes: Any, channel: str, sender: str, *, tracker_url: str | None = None) -> dict[str, Any]:
    """All data the tutor holds about one learner, as JSON-ready data.

    Returns:
        ``{"learner": {table: rows}, "human_loop": {table: rows}}`` (questions to trainers,
        handoff transcripts, feedback, question log, messages kept for them) and, in
        scaled mode, ``conversation_events`` (how many tracker events are stored).
    """
    learner_id = _find_learner(quizzes, channel, sender)
    data: dict[str, Any] = {"learner": quizzes.export(learner_id) if learner_id is not None else {}}
    handoff = _handoff_store(quizzes)
    if handoff is not None:
        data["human_loop"] = handoff.export_sender(sender)
    if tracker_url:
        data["conversation_events"] = count_tracker_events(tracker_url, sender)
    return data


#: ``custom`` payload type of a file for the learner (the widget offers a download, the
#: Telegram bridge sends a document). Under ``data`` because Rasa's socket.io channel
#: emits a custom payload's keys as ``emit()`` arguments.
FILE_PAYLOAD = "file"


def export_file(data: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The ``json_message`` that delivers an export as a JSON file on every channel.

    Args:
        data: :func:`export_learner` output.
        now: Date for the file name (tests).

    Returns:
        ``{"data": {"type": "file", "name": "my-tutor-data-YYYY-MM-DD.json",
        "mime_type": "application/json", "content": "<JSON text>"}}``.
    """
    day = (now or datetime.now(UTC)).date().isoformat()
    content = json.dumps(data, default=_plain, ensure_ascii=False, indent=2)
    return {"data": {"type": FILE_PAYLOAD, "name": f"my-tutor-data-{day}.json", "mime_type": "application/json",
                     "content": content}}


def export_rows(data: dict[str, Any]) -> int:
    """How many rows an export holds (for the summary line)."""
    return sum(len(rows) for group in ("learner", "human_loop") for rows in (data.get(group) or {}).values()
               if isinstance(rows, list))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def last_activity(quizzes: Any) -> dict[str, datetime]:
    """When each learner (by sender id) last did anything the tutor stored.

    Activity is a quiz, review or profile change (``learners.last_seen_at``), a question
    asked (question log, trainer queue), a rating, or a live-handoff message. Messages
    *to* the learner (outbox) are not their activity.

    Returns:
        ``{sender: latest aware UTC time}`` over every store that has the sender.
    """
    from sqlalchemy import func, select

    from bot.store.engine import session_scope
    from bot.store.models import Learner

    columns: list[tuple[Any, Any]] = [(Learner.external_id, func.coalesce(Learner.last_seen_at, Learner.created_at))]
    try:
        from bot.store.handoff_models import Feedback, Handoff, HandoffMessage, QuestionLog, QueueAsker

        columns += [(QuestionLog.sender, QuestionLog.asked_at), (QueueAsker.sender, QueueAsker.asked_at),
                    (Feedback.sender, Feedback.created_at), (Handoff.sender, Handoff.started_at),
                    (HandoffMessage.sender, HandoffMessage.created_at)]
    except ImportError:  # the human-loop package is optional
        pass
    latest: dict[str, datetime] = {}
    with session_scope(quizzes._sessions) as s:
        for sender_col, time_col in columns:
            for sender, when in s.execute(select(sender_col, func.max(time_col)).group_by(sender_col)):
                if when is None:
                    continue
                when = when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite hands back naive UTC
                if sender not in latest or when > latest[sender]:
                    latest[sender] = when
    return latest


def purge(quizzes: Any, older_than_days: int, *, tracker_url: str | None = None,
          now: datetime | None = None, bridge_port: int | None = None,
          bridge_token: str | None = None, kb_dir: Path | None = None) -> dict[str, int]:
    """Retention job: erase learners inactive for ``older_than_days``, and old rows of everyone.

    A learner is inactive when nothing in :func:`last_activity` is newer than the cutoff:
    one who asks questions every day is kept even without a quiz for a year. An inactive
    learner is erased from every store, as by :func:`erase_learner` (learner rows,
    human-loop rows, the Telegram bridge's chat mapping when the bridge is given). Of
    active learners, question-log and feedback rows, delivered messages and ended
    handoffs older than the cutoff are deleted too.

    Args:
        quizzes: The quiz service (learner store and quiz bank).
        older_than_days: Retention period in days.
        tracker_url: SQL tracker store URL (scaled mode): old events are deleted.
        now: The current time (tests).
        bridge_port / bridge_token: the Telegram bridge's loopback endpoint (None: no bridge).
        kb_dir: The knowledge folder: FAQ documents in an erased learner's words are removed.

    Returns:
        ``{"learners": erased senders, "old_rows": rows of active learners,
        "telegram_mappings": n, "tracker_events": m}``.
    """
    from sqlalchemy import select, text

    from bot.store.engine import session_scope
    from bot.store.models import Learner

    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    stale = sorted(sender for sender, when in last_activity(quizzes).items() if when < cutoff)
    handoff = _handoff_store(quizzes)
    result = {"learners": len(stale), "old_rows": 0, "telegram_mappings": 0, "tracker_events": 0}
    for sender in stale:
        with session_scope(quizzes._sessions) as s:
            learner_ids = list(s.scalars(select(Learner.id).where(Learner.external_id == sender)))
        for learner_id in learner_ids:
            quizzes.erase(learner_id)
        if handoff is not None:
            published = handoff.published_wordings(sender) if kb_dir is not None else []
            handoff.erase_sender(sender)
            if published and kb_dir is not None:
                remove_worded_faqs(kb_dir, published)
        if sender.startswith("tg-") and bridge_port and bridge_token:
            try:
                result["telegram_mappings"] += int(forget_telegram_chat(sender, bridge_port, bridge_token))
            except (OSError, urllib.error.URLError) as exc:  # the bridge also drops idle mappings itself
                log.warning("retention purge: Telegram bridge unreachable (%s)", type(exc).__name__)
    if handoff is not None:
        result["old_rows"] = handoff.purge_older_than(older_than_days, now=now)
    if tracker_url:
        engine = _engine(tracker_url)
        try:
            with engine.begin() as conn:
                result["tracker_events"] = conn.execute(
                    text("DELETE FROM events WHERE timestamp < :t"), {"t": cutoff.timestamp()}).rowcount or 0
        finally:
            engine.dispose()
    log.info("retention purge (%d days): %d learners erased, %d old rows, %d Telegram mappings, %d tracker events",
             older_than_days, result["learners"], result["old_rows"], result["telegram_mappings"],
             result["tracker_events"])
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.privacy``: purge inactive learners, export or erase one.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m bot.privacy", description="Learners' data rights.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("purge", help="erase data of learners inactive for N days")
    p.add_argument("--older-than-days", type=int, default=None)
    for name in ("erase", "export"):
        q = sub.add_parser(name)
        q.add_argument("--channel", required=True)
        q.add_argument("--sender", required=True)
    args = parser.parse_args(argv)
    from bot.logging_setup import configure_logging
    from bot.quizzes import Quizzes

    configure_logging()
    quizzes, _ = Quizzes.from_settings()
    url = tracker_db_url()
    if args.command == "purge":
        from bot.config import load_settings

        settings = load_settings()
        bridge = (settings.telegram_proactive_port, settings.action_token) if settings.telegram_token else (None, None)
        print(json.dumps(purge(quizzes, args.older_than_days or retention_days(), tracker_url=url,
                               bridge_port=bridge[0], bridge_token=bridge[1], kb_dir=Path(settings.kb_dir))))
    elif args.command == "erase":
        from bot.config import load_settings

        settings = load_settings()
        report = erase_learner(quizzes, args.channel, args.sender, tracker_url=url,
                               bridge_port=settings.telegram_proactive_port, bridge_token=settings.action_token,
                               kb_dir=Path(settings.kb_dir))
        print(json.dumps({"removed": report.removed, "errors": report.errors}))
        return 0 if report.complete else 1
    else:
        print(json.dumps(export_learner(quizzes, args.channel, args.sender, tracker_url=url), default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
