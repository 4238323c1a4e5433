"""The human loop as one object: queue questions, hand over, answer, deliver, learn.

Used by the actions (``actions/handoff.py``, ``actions/feedback.py``,
``actions/knowledge.py``), the trainer console and the ``tutor-admin`` CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.handoff.delivery import Sender, TrainerChat, telegram_sender
from bot.handoff.faq import write_faq
from bot.handoff.hours import OfficeHours, utcnow
from bot.handoff.records import HandoffRecords, ItemView
from bot.handoff.settings import HumanLoopSettings, load_human_loop_settings
from bot.handoff.similarity import Similarity, default_similarity
from bot.i18n import DEFAULT_LANGUAGE, is_interface_language, t
from bot.knowledge.embedders import Embedder

log = logging.getLogger(__name__)


def channel_of(sender: str, channel: str | None) -> str:
    """The learner's channel: ``telegram`` for the bridge's ``tg-`` senders (they reach Rasa over REST)."""
    if sender.startswith("tg-"):
        return "telegram"
    return channel or "rest"


class _LazySimilarity:
    """Builds the real similarity on first use (the console never needs the embedder)."""

    def __init__(self, build: Callable[[], Similarity]) -> None:
        self._build = build
        self._inner: Similarity | None = None

    @property
    def inner(self) -> Similarity:
        if self._inner is None:
            self._inner = self._build()
        return self._inner

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    def scores(self, question: str, others: Sequence[str]) -> list[float]:
        return self.inner.scores(question, others)


@dataclass
class TrainerRequest:
    """What happened to a "talk to a trainer" request."""

    ref: int
    live: bool
    handoff_id: int | None
    expect: datetime | None
    hours: str


@dataclass
class RelayResult:
    """The outcome of one learner message during a handoff."""

    active: bool
    ended_by_trainer: bool = False
    pending: list[str] = field(default_factory=list)


@dataclass
class AnswerResult:
    """The outcome of answering a queue item."""

    item: ItemView
    delivered: list[str]
    queued: list[str]
    kb_path: Path | None


class HumanLoop:
    """Queue, handoff, delivery and FAQ writing.

    Args:
        records: the human-loop tables (queue, handoffs, outbox, feedback, accounts).
        kb_dir: the knowledge folder (FAQ documents go to ``kb_dir/faq``).
        hours: trainers' office hours.
        push: pushes a message to a Telegram learner now (None: everything waits in the outbox).
        trainer_chat: notices to the trainers' Telegram chat (None: console only).
        console_url: the console's address, quoted in notices.
        clock: current aware UTC time.
    """

    def __init__(self, records: HandoffRecords, kb_dir: Path, hours: OfficeHours, push: Sender | None = None,
                 trainer_chat: TrainerChat | None = None, console_url: str = "",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.records, self.kb_dir, self.hours = records, kb_dir, hours
        self.push, self.trainer_chat, self.console_url, self.clock = push, trainer_chat, console_url, clock

    @classmethod
    def from_settings(cls, hl: HumanLoopSettings | None = None, *,
                      embedder: Callable[[str], Embedder] | None = None) -> HumanLoop:
        """Build from the environment: migrate the store, wire Telegram if configured.

        Args:
            hl: the human-loop settings (default: from the environment).
            embedder: returns the embedder for a name, for queue de-duplication; the
                action server passes the retriever's (one copy of the model per process).
                Default: :func:`~bot.handoff.similarity.default_similarity` builds its own.

        Returns:
            The human loop over a migrated store.
        """
        from bot.config import load_settings
        from bot.store import make_engine, migrate, session_factory

        settings = load_settings()
        hl = hl or load_human_loop_settings()
        engine = make_engine(settings.database_url)
        migrate(engine)
        similarity = _LazySimilarity(lambda: default_similarity(hl.dedup_embedder, hl.dedup_threshold,
                                                                hl.lexical_dedup_threshold, embedder))
        records = HandoffRecords(session_factory(engine), similarity)
        push = telegram_sender(settings, hl.proactive_url)
        chat = TrainerChat(settings.telegram_api_base_url, settings.telegram_token, hl.trainer_chat_id)
        return cls(records, settings.kb_dir, OfficeHours.parse(hl.trainer_hours, hl.trainer_days), push,
                   chat if chat.enabled else None, hl.console_public_url)

    # ---------------------------------------------------------------- learners
    def record_unanswered(self, sender: str, query: str, sources: Sequence[str], channel: str = "",
                          language: str = "en") -> int:
        """File a question the evidence gate declined; returns the queue item id."""
        channel = channel_of(sender, channel)
        self.records.log_question(sender, channel, query, answered=False, sources=sources)
        item_id, _ = self.records.add_question("unanswered", sender, channel, query, sources, language)
        return item_id

    def record_answered(self, sender: str, query: str, sources: Sequence[str], channel: str = "") -> None:
        """Log an answered question (analytics only)."""
        self.records.log_question(sender, channel_of(sender, channel), query, answered=True, sources=sources)

    def request_trainer(self, sender: str, question: str, channel: str = "", language: str = "en",
                        live: bool = True) -> TrainerRequest:
        """Queue the learner's question and, in office hours, open a live handoff.

        Args:
            sender: pseudonymous id.
            question: the question to pass on (may be empty: "just let me talk to someone").
            channel: Rasa's input channel.
            language: the learner's language.
            live: allow a live handoff (False: queue only).

        Returns:
            A :class:`TrainerRequest`.
        """
        channel = channel_of(sender, channel)
        now = self.clock()
        item_id, _ = self.records.add_question("request", sender, channel, question or "(asked to talk to a trainer)",
                                             [], language)
        is_open = self.hours.is_open(now)
        handoff_id = self.records.start_handoff(sender, channel, item_id) if (live and is_open) else None
        if self.trainer_chat is not None:
            mode = "live chat" if handoff_id else "queued (out of hours)"
            link = f"{self.console_url}/handoffs/{handoff_id}" if handoff_id else f"{self.console_url}/items/{item_id}"
            self.trainer_chat.post(f"Learner request #{item_id} ({channel}, {mode}):\n{question or '-'}\n"
                                   f"Answer in the console: {link}")
        return TrainerRequest(ref=item_id, live=handoff_id is not None, handoff_id=handoff_id,
                              expect=None if is_open else self.hours.next_open(now), hours=self.hours.describe())

    def relay(self, sender: str, text: str) -> RelayResult:
        """A learner message during a handoff: keep it, pass it on, return waiting replies."""
        active = self.records.active_handoff(sender)
        if active is None:
            latest = self.records.latest_handoff(sender)
            return RelayResult(active=False, ended_by_trainer=bool(latest and latest["ended_by"] == "trainer"),
                               pending=self.records.take_pending(sender))
        self.records.add_handoff_message(active["id"], sender, "learner", text)
        if self.trainer_chat is not None:
            self.trainer_chat.post(f"Learner in chat #{active['id']}:\n{text}\n"
                                   f"Reply: {self.console_url}/handoffs/{active['id']}")
        return RelayResult(active=True, pending=self.records.take_pending(sender))

    def end_by_learner(self, sender: str) -> bool:
        """The learner leaves the handoff; False if none was active."""
        active = self.records.active_handoff(sender)
        if active is None:
            return False
        self.records.end_handoff(active["id"], "learner")
        if self.trainer_chat is not None:
            self.trainer_chat.post(f"The learner ended chat #{active['id']}.")
        return True

    def pending_for(self, sender: str) -> list[str]:
        """Trainer messages waiting for a learner (marked delivered)."""
        return self.records.take_pending(sender)

    def feedback(self, sender: str, channel: str, question: str, sources: Sequence[str], positive: bool,
                 language: str = "en") -> int | None:
        """Store a rating; a thumbs-down also files the question for the trainers.

        Returns:
            The queue item id for a thumbs-down, else None.
        """
        channel = channel_of(sender, channel)
        self.records.add_feedback(sender, channel, question, sources, positive)
        if positive or not question:
            return None
        item_id, _ = self.records.add_question("thumbs_down", sender, channel, question, sources, language)
        return item_id

    # ---------------------------------------------------------------- trainers
    def send_to_learner(self, sender: str, channel: str, text: str,
                        buttons: list[dict[str, Any]] | None = None) -> bool:
        """Push now when the channel allows it, else keep for the learner's next turn.

        Returns:
            True if delivered now, False if queued in the outbox.
        """
        if channel == "telegram" and self.push is not None and self.push.push(sender, text, buttons):
            self.records.enqueue(sender, channel, text, delivered=True)
            return True
        self.records.enqueue(sender, channel, text)
        return False

    def answer_item(self, item_id: int, answer: str, trainer: str, add_to_kb: bool,
                    faq_question: str | None = None) -> AnswerResult:
        """Answer a queue item: tell every asker, optionally write the FAQ document.

        Args:
            item_id / answer / trainer: the item, the trainer's answer and user name.
            add_to_kb: also publish a FAQ document in the knowledge base.
            faq_question: the question as the trainer wrote or confirmed it; required with
                ``add_to_kb``. The FAQ is served to every learner, so it never carries a
                learner's own wording (which erasure could not take back).

        Raises:
            KeyError: no such item.
            ValueError: empty answer, or ``add_to_kb`` without ``faq_question``.
        """
        answer = answer.strip()
        if not answer:
            raise ValueError("the answer is empty")
        question = " ".join((faq_question or "").split())
        if add_to_kb and not question:
            raise ValueError("to add the answer to the knowledge base, write the question as learners should see it")
        item = self.records.get_item(item_id)
        if item is None:
            raise KeyError(item_id)
        kb_path = None
        if add_to_kb:
            kb_path = write_faq(self.kb_dir, item.id, question, answer, trainer, self.clock().date(), item.language)
        rel = str(kb_path.relative_to(self.kb_dir)) if kb_path else None
        item = self.records.mark_answered(item_id, answer, trainer, rel)
        delivered: list[str] = []
        queued: list[str] = []
        for asker in item.askers:
            language = item.language if is_interface_language(item.language) else DEFAULT_LANGUAGE
            text = t("handoff_trainer_answer", language, question=asker["question"], answer=answer)
            (delivered if self.send_to_learner(asker["sender"], asker["channel"], text) else queued).append(
                asker["sender"])
            self.records.mark_notified(item_id, asker["sender"])
        log.info("queue item %d answered by %s: %d delivered, %d queued, kb=%s", item_id, trainer,
                 len(delivered), len(queued), rel)
        return AnswerResult(item, delivered, queued, kb_path)

    def trainer_message(self, handoff_id: int, text: str, trainer: str) -> bool:
        """A trainer's message in a live handoff.

        Returns:
            True if delivered now, False if queued for the learner's next message.

        Raises:
            KeyError: no such handoff. ValueError: empty text or handoff ended.
        """
        text = text.strip()
        if not text:
            raise ValueError("the message is empty")
        handoff = self.records.get_handoff(handoff_id)
        if handoff is None:
            raise KeyError(handoff_id)
        if handoff["status"] != "active":
            raise ValueError("this chat has ended")
        self.records.add_handoff_message(handoff_id, handoff["sender"], "trainer", text, trainer)
        return self.send_to_learner(handoff["sender"], handoff["channel"],
                                    t("handoff_trainer_says", "en", trainer=trainer, text=text))

    def end_by_trainer(self, handoff_id: int, trainer: str) -> bool:
        """The trainer closes a live handoff and the learner is told the tutor is back."""
        handoff = self.records.get_handoff(handoff_id)
        if handoff is None or not self.records.end_handoff(handoff_id, "trainer"):
            return False
        self.send_to_learner(handoff["sender"], handoff["channel"], t("handoff_ended_by_trainer", "en",
                                                                       trainer=trainer))
        return True
