"""Answering questions from the course material, with citations.

``action_answer_question`` searches the knowledge base for the learner's message and
either answers from the best passage (with its citation) or, when the evidence gate
says the material does not cover it, says so plainly, records the question for the
trainers and offers a handoff. When the gate declined but the question came close, the
reply also names the closest section, which the learner may open knowing it may not
answer them. ``action_show_more`` and ``action_show_full_passage`` page through the
same search: its result is kept per conversation (:mod:`bot.knowledge.recent`) and
searched again only when it is no longer there or no longer current.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, latest_text
from bot.i18n import t
from bot.knowledge.chunking import Chunk
from bot.knowledge.index import KnowledgeIndexError
from bot.knowledge.recent import RecentResults
from bot.knowledge.search import Retriever, SearchResult
from bot.language import MAX_MESSAGE_CHARS
from bot.replies import compose_answer, full_passage

log = logging.getLogger(__name__)

#: Each conversation's last search, for paging without searching again (this process only).
RECENT_RESULTS = RecentResults()


def _retriever(injected: Retriever | None) -> Retriever:
    if injected is not None:
        return injected
    from bot.wiring import get_retriever  # lazy: builds the index reader on first use

    return get_retriever()


def _answer_buttons(language: str, has_quiz: bool = False) -> list[dict[str, Any]]:
    buttons = [button(t("button_show_more", language), "/show_more"),
               button(t("button_full_passage", language), "/show_full_passage")]
    if has_quiz:
        buttons.append(button(t("button_quiz_on_this", language), "/quiz_me_on_this"))
    from actions.feedback import feedback_buttons  # [human loop] 👍/👎 under every answer

    return buttons + feedback_buttons(language)


def _not_covered(result: SearchResult, language: str) -> dict[str, Any]:
    """The decline: plain, or naming the closest section when the gate says it came close."""
    hint = t("not_covered_trainer_hint", language)
    buttons = [button(t("button_ask_trainer", language), "/request_trainer"),
               button(t("button_check_trainer_reply", language), "/check_trainer_reply")]
    if result.closest and result.hits:
        return {"text": t("not_covered_closest", language, citation=result.hits[0].chunk.citation, trainer_hint=hint),
                "buttons": [button(t("button_open_closest", language), "/show_full_passage"), *buttons]}
    return {"text": t("not_covered", language, trainer_hint=hint), "buttons": buttons}


def _caveat(result: SearchResult, language: str) -> str:
    """Before a passage the gate did not accept as an answer (opened from the pointer)."""
    return "" if result.answerable else t("closest_caveat", language) + "\n\n"


def _has_quiz(chunk: Chunk, retriever: Retriever) -> bool:
    """Whether "Quiz me on this" has questions on this passage (from the banks, or drafted from it).

    Drafting here (cached per passage) is what keeps the button off a passage with
    nothing to ask about.
    """
    try:
        from bot.quizzes.passage_quiz import items_on_passage
        from bot.wiring import get_passage_quizzes, get_quizzes

        def of_document(source: str) -> list[Chunk]:
            return document_chunks(source, retriever)

        return bool(items_on_passage(get_quizzes().bank, get_passage_quizzes(), chunk, of_document))
    except Exception:  # no learner store or banks: simply no quiz button
        log.debug("quiz lookup failed for %s", chunk.source, exc_info=True)
        return False


def document_chunks(source: str, retriever: Retriever | None = None) -> list[Chunk]:
    """The live index's passages of one document (distractors for items drafted from a passage).

    Args:
        source: The document's path.
        retriever: The retriever whose index is read (default: the process-wide one).

    Returns:
        Its chunks in index order (none without an index).
    """
    try:
        return [c for c in _retriever(retriever).index.chunks if c.source == source]
    except KnowledgeIndexError:
        return []


def shown_passage(tracker: Tracker, retriever: Retriever | None = None,
                  recent: RecentResults | None = None) -> Chunk | None:
    """The passage the learner was last shown (the answer, or the one "show more" opened).

    Args:
        tracker: The conversation (``last_query`` and ``answer_rank`` say which passage).
        retriever: The retriever (default: the process-wide one).
        recent: Kept search results (default: this process's).

    Returns:
        The chunk, or None when no passage was shown or the index cannot be searched.
    """
    query = tracker.get_slot("last_query")
    if not query:
        return None
    retriever = _retriever(retriever)
    kept = recent if recent is not None else RECENT_RESULTS
    try:
        index = retriever.index
        result = kept.get(tracker.sender_id, query, tracker.get_slot("role"), index)
        if result is None:
            result = retriever.search(query, k=5, role=tracker.get_slot("role"))
    except KnowledgeIndexError:
        return None
    rank = int(tracker.get_slot("answer_rank") or 0)
    if not (result.answerable or result.closest) or rank >= len(result.hits):
        return None
    return result.hits[rank].chunk


class KnowledgeAction(Action, abc.ABC):
    """Base for actions that search the knowledge base (abstract: rasa_sdk skips it)."""

    def __init__(self, retriever: Retriever | None = None, recent: RecentResults | None = None):
        self._injected = retriever
        self.recent = recent if recent is not None else RECENT_RESULTS

    @property
    def retriever(self) -> Retriever:
        """The retriever (the injected one, else the process-wide one)."""
        return _retriever(self._injected)

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    def repeat_last_search(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           language: str) -> SearchResult | None:
        """The search for the learner's last question, or None after telling them why not."""
        query = tracker.get_slot("last_query")
        if not query:
            dispatcher.utter_message(text=t("no_question_yet", language))
            return None
        try:
            kept = self.recent.get(tracker.sender_id, query, tracker.get_slot("role"), self.retriever.index)
            return kept if kept is not None else self.search(query, tracker)
        except KnowledgeIndexError:
            dispatcher.utter_message(text=t("index_unavailable", language))
            return None

    def search(self, query: str, tracker: Tracker) -> SearchResult:
        """Search for ``query`` and keep the result for paging in this conversation."""
        retriever = self.retriever
        index = retriever.index  # the version the search runs on (raises KnowledgeIndexError without one)
        role = tracker.get_slot("role")
        result = retriever.search(query, k=5, role=role)
        if result.version == index.version:  # not if a new version went live in between
            self.recent.put(tracker.sender_id, role, index, result)
        return result


class ActionAnswerQuestion(KnowledgeAction):
    """Answer the latest message from the course material or say it is not covered."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        query = latest_text(tracker)
        if not query or query.startswith("/"):
            dispatcher.utter_message(text=t("empty_message", language))
            return []
        if len(query) > MAX_MESSAGE_CHARS:
            dispatcher.utter_message(text=t("message_too_long", language, length=len(query),
                                            limit=MAX_MESSAGE_CHARS))
            return []
        self.deliver_trainer_replies(dispatcher, tracker, language)
        try:
            result = self.search(query, tracker)
        except KnowledgeIndexError as exc:
            log.error("knowledge search unavailable: %s", exc)
            dispatcher.utter_message(text=t("index_unavailable", language))
            return []
        if not result.answerable:
            log.info("declined (not covered): top scores %s", {k: round(v, 3) for k, v in result.top_scores.items()})
            self.record_unanswered(tracker, result)
            dispatcher.utter_message(**_not_covered(result, language))
            return [SlotSet("last_query", query), SlotSet("answer_rank", 0.0), SlotSet("last_sources", [])]
        answer = compose_answer(result, self.retriever, rank=0, language=language)
        assert answer is not None  # an answerable result has a hit at rank 0
        self.record_answered(tracker, query, [answer.source])
        dispatcher.utter_message(text=answer.text,
                                 buttons=_answer_buttons(language, _has_quiz(result.hits[0].chunk, self.retriever)))
        return [SlotSet("last_query", query), SlotSet("answer_rank", 0.0),
                SlotSet("last_sources", [answer.source])]

    def record_unanswered(self, tracker: Tracker, result: SearchResult) -> None:
        """Keep the question for the trainers (the handoff queue reads it)."""
        try:
            from bot.wiring import get_human_loop

            get_human_loop().record_unanswered(tracker.sender_id, result.query,
                                               [h.chunk.source for h in result.hits[:3]],
                                               channel=tracker.get_latest_input_channel() or "",
                                               language=language_of(tracker))
        except Exception:  # recording must never cost the learner their reply
            log.exception("could not record an unanswered question")

    def record_answered(self, tracker: Tracker, query: str, sources: list[str]) -> None:
        """[human loop] Log the answered question for the trainers' analytics."""
        try:
            from bot.wiring import get_human_loop

            get_human_loop().record_answered(tracker.sender_id, query, sources,
                                             channel=tracker.get_latest_input_channel() or "")
        except Exception:
            log.exception("could not log an answered question")

    def deliver_trainer_replies(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: str) -> None:
        """[human loop] Hand over trainers' answers waiting for this (web/REST) learner first."""
        try:
            from bot.wiring import get_human_loop

            pending = get_human_loop().pending_for(tracker.sender_id)
        except Exception:
            log.exception("could not read waiting trainer replies")
            return
        if pending:
            dispatcher.utter_message(text=t("handoff_pending_intro", language))
        for text in pending:
            dispatcher.utter_message(text=text)


class ActionShowMore(KnowledgeAction):
    """Show the next passage for the last question."""

    def name(self) -> str:
        return "action_show_more"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        result = self.repeat_last_search(dispatcher, tracker, language)
        if result is None:
            return []
        rank = int(tracker.get_slot("answer_rank") or 0) + 1
        shown = result.answerable or result.closest
        answer = compose_answer(result, self.retriever, rank=rank, language=language) if shown else None
        if answer is None:
            dispatcher.utter_message(text=t("no_more_results", language),
                                     buttons=[button(t("button_ask_trainer", language), "/request_trainer")])
            return []
        dispatcher.utter_message(text=f"{_caveat(result, language)}{t('next_result_intro', language)}\n\n{answer.text}",
                                 buttons=_answer_buttons(language))
        sources = list(tracker.get_slot("last_sources") or [])
        return [SlotSet("answer_rank", float(rank)), SlotSet("last_sources", sources + [answer.source])]


class ActionShowFullPassage(KnowledgeAction):
    """Show the whole passage behind the current answer."""

    def name(self) -> str:
        return "action_show_full_passage"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        result = self.repeat_last_search(dispatcher, tracker, language)
        if result is None:
            return []
        rank = int(tracker.get_slot("answer_rank") or 0)
        if not (result.answerable or result.closest) or rank >= len(result.hits):
            dispatcher.utter_message(text=t("no_more_results", language))
            return []
        dispatcher.utter_message(text=_caveat(result, language) + full_passage(result.hits[rank].chunk, language),
                                 buttons=[button(t("button_show_more", language), "/show_more")])
        return []
