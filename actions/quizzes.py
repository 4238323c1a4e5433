"""Quizzes, spaced review and progress.

One question at a time: the question goes out with answer buttons plus Skip/Stop;
while ``quiz_active`` is true, a typed reply that looks like an answer is read as one
(rules route it here); anything else (a question, a request) is answered and the
question asked again; feedback cites the source; a summary closes the quiz. A quiz
asked for before the privacy notice was accepted starts once it is (``pending_request``). All state lives in the
learner store through :class:`bot.quizzes.Quizzes`, so a quiz survives restarts
and replicas, and a retried action never counts an answer twice (``quiz_item_id``).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, latest_text, learner_key
from bot.i18n import t

if TYPE_CHECKING:
    from bot.quizzes import Question

log = logging.getLogger(__name__)

QUESTIONS_PER_QUIZ = 5


def _document_titles() -> dict[str, str]:
    """Document path -> title from the live index (for citations in feedback)."""
    try:
        from bot.wiring import get_retriever

        return {source: info["title"] for source, info in get_retriever().index.meta["documents"].items()}
    except Exception:  # no index yet: cite by path
        return {}


def documents_titled(topic: str, titles: dict[str, str]) -> list[str]:
    """The documents whose title names ``topic``, for a topic no quiz module or question names.

    "sexual harassment" finds *Preventing Sexual Harassment at the Workplace (POSH)*, and
    so does "यौन उत्पीड़न" through its English term (:mod:`bot.knowledge.english_terms`).

    Args:
        topic: The topic as the learner named it.
        titles: Document path -> title.

    Returns:
        The paths of the documents whose title has every word of the topic or of one of its
        English terms (the first wording that finds any); empty when none does.
    """
    from bot.quizzes.banks import has_words, topic_wordings
    from bot.quizzes.wording import normalise_wording

    for wording in topic_wordings(topic):
        words = normalise_wording(wording).split()
        found = [doc for doc, title in titles.items() if words and has_words(title, words)]
        if found:
            return found
    return []


class QuizAction(Action, abc.ABC):
    """Base for quiz actions (abstract: rasa_sdk does not register it).

    Args:
        quizzes: a :class:`bot.quizzes.Quizzes` (default: the shared one).
        titles: document path -> title for citations (default: from the live index).
        knowledge: the action that answers a question asked mid-quiz (default:
            :class:`actions.knowledge.ActionAnswerQuestion` on the live index).
    """

    def __init__(self, quizzes=None, titles: dict[str, str] | None = None, knowledge: Action | None = None):
        self._quizzes = quizzes
        self._titles = titles
        self._knowledge = knowledge

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @property
    def quizzes(self):
        """The quiz service (the injected one, else the process-wide one)."""
        if self._quizzes is None:
            from bot.wiring import get_quizzes

            return get_quizzes()
        return self._quizzes

    @property
    def titles(self) -> dict[str, str]:
        """Document titles by source path (for naming modules in replies)."""
        return self._titles if self._titles is not None else _document_titles()

    def learner_id(self, tracker: Tracker) -> int | None:
        """The learner's id if they accepted the privacy notice, else None (no row is created)."""
        from bot.privacy import consented_learner

        channel, external_id = learner_key(tracker)
        return consented_learner(self.quizzes, channel, external_id, language=language_of(tracker))

    def consented(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> int | None:
        """The learner's id once they accepted the privacy notice (DPDP Act); else show it, None.

        Progress (attempts, review state, mastery) is stored only after consent.
        """
        learner = self.learner_id(tracker)
        if learner is None:
            dispatcher.utter_message(response="utter_privacy_notice")
        return learner

    def ask(self, dispatcher: CollectingDispatcher, question, language: str,
            tracker: Tracker | None = None) -> list[EventType]:
        """Send a question with its answer buttons and Skip/Stop; remember which it is.

        On Telegram a multiple-choice question also carries a ``quiz_poll`` payload (see
        :func:`quiz_poll`): the bridge sends it as a native quiz poll when it can, else
        the text and buttons. Other channels get no poll, so the right answer never
        reaches a browser.
        """
        answers = question.buttons(language=language)
        buttons = answers + [
            button(t("quiz_button_skip", language), "/skip_question"),
            button(t("quiz_button_stop", language), "/stop_quiz"),
        ]
        dispatcher.utter_message(text=question.as_markdown(language), buttons=buttons)
        if tracker is not None and learner_key(tracker)[0] == "telegram":
            poll = quiz_poll(question, self.quizzes.bank.get(question.item_id), answers, language)
            if poll is not None:
                dispatcher.utter_message(json_message={"quiz_poll": poll})
        return [SlotSet("quiz_active", True), SlotSet("quiz_item_id", question.item_id)]

    @staticmethod
    def ended() -> list[EventType]:
        """The events that end a quiz: no question is pending."""
        return [SlotSet("quiz_active", False), SlotSet("quiz_item_id", None)]

    @property
    def knowledge(self) -> Action:
        """The question-answering action, for questions asked in the middle of a quiz."""
        if self._knowledge is None:
            from actions.knowledge import ActionAnswerQuestion

            self._knowledge = ActionAnswerQuestion()
        return self._knowledge

    def repeat(self, dispatcher: CollectingDispatcher, learner: int | None, language: str,
               tracker: Tracker | None = None) -> list[EventType]:
        """Ask the question that still waits for an answer again (after a digression).

        Returns:
            The quiz slot events (the quiz ends quietly when nothing waits any more).
        """
        question = self.quizzes.current_question(learner) if learner is not None else None
        if question is None:
            return self.ended()
        dispatcher.utter_message(text=t("quiz_back_to_question", language))
        return self.ask(dispatcher, question, language, tracker)


def quiz_poll(question, item, answers: list[dict[str, str]], language: str) -> dict[str, Any] | None:
    """The ``quiz_poll`` payload of a multiple-choice question, for the Telegram bridge.

    Args:
        question: The :class:`bot.quizzes.Question` asked.
        item: Its bank item (for the right answer), or None.
        answers: The question's answer buttons, one per option.
        language: The learner's language.

    Returns:
        ``{"item_id", "question", "options", "correct_option_id", "answers"}`` where
        ``answers`` are the buttons' payloads; None for other question types.
    """
    if question.type != "single" or item is None or item.answer not in question.options:
        return None
    if len(answers) != len(question.options):
        return None
    return {
        "item_id": question.item_id,
        "question": t("quiz_poll_question", language, number=question.number, total=question.total,
                      question=question.text),
        "options": list(question.options),
        "correct_option_id": question.options.index(item.answer),
        "answers": [answer["payload"] for answer in answers],
    }


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _pending(tracker: Tracker, **request: Any) -> list[EventType]:
    """Remember what the learner asked for while consent was pending (see ActionResumeRequest)."""
    return [SlotSet("pending_request", {"intent": _intent(tracker), **request}), SlotSet("request_pending", True)]


class ActionStartQuiz(QuizAction):
    """"quiz me" / "quiz me on RTI": start a quiz on a topic or on everything."""

    def name(self) -> str:
        return "action_start_quiz"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        topic = next(tracker.get_latest_entity_values("quiz_topic"), None)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended() + _pending(tracker, topic=topic)
        return self.start(dispatcher, tracker, learner, topic)

    def start(self, dispatcher: CollectingDispatcher, tracker: Tracker, learner: int,
              topic: str | None) -> list[EventType]:
        """Start a quiz on ``topic`` (None: everything) in the learner's language first."""
        from bot.quizzes import NoQuestionsError

        language = language_of(tracker)
        try:
            question = self.quizzes.start_quiz(learner, topic=topic, n=QUESTIONS_PER_QUIZ, language=language)
        except NoQuestionsError:
            found = self._on_titled_documents(learner, topic, language) if topic else None
            if found is None:
                dispatcher.utter_message(text=t("quiz_no_questions", language))
                return self.ended()
            question = found
        scope = t("quiz_scope_topic", language, topic=topic) if topic else ""
        dispatcher.utter_message(text=t("quiz_start", language, scope=scope))
        return self.ask(dispatcher, question, language, tracker)

    def _on_titled_documents(self, learner: int, topic: str, language: str) -> Question | None:
        """The first question of a quiz on the documents whose title names ``topic``, or None.

        For a topic no quiz module or question names ("sexual harassment"), when a
        document's title does (:func:`documents_titled`).
        """
        from bot.quizzes import NoQuestionsError

        documents = documents_titled(topic, self.titles)
        if not documents:
            return None
        try:
            return self.quizzes.start_quiz(learner, documents=documents, n=QUESTIONS_PER_QUIZ, language=language)
        except NoQuestionsError:
            return None


class ActionStartQuizOnThis(QuizAction):
    """"quiz me on this" after an answer: questions on the passage just shown.

    The banks' items on that passage come first; when they have none (or too few), items
    are drafted from the passage itself (:mod:`bot.quizzes.passage_quiz`, cached per
    passage). A passage with nothing to ask about is said so. When no passage can be
    found (no search kept, no index), the documents just shown are used instead.

    Args:
        quizzes: See :class:`QuizAction`.
        titles: See :class:`QuizAction`.
        passage: Returns the passage the learner was shown (default:
            :func:`actions.knowledge.shown_passage`).
        passage_quizzes: The drafted items' cache (default: under the state folder).
        document_chunks: Returns a document's chunks, for distractors (default: the live index's).
    """

    def __init__(self, quizzes=None, titles: dict[str, str] | None = None, *,
                 passage: Callable[[Tracker], Any] | None = None, passage_quizzes: Any = None,
                 document_chunks: Callable[[str], list[Any]] | None = None) -> None:
        super().__init__(quizzes, titles)
        self._passage = passage
        self._passage_quizzes = passage_quizzes
        self._document_chunks = document_chunks

    def name(self) -> str:
        return "action_start_quiz_on_this"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.quizzes import NoQuestionsError

        language = language_of(tracker)
        sources = [s for s in (tracker.get_slot("last_sources") or []) if s]
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended() + _pending(tracker)
        chunk = self.passage(tracker)
        if chunk is not None:
            return self.start_on_passage(dispatcher, tracker, learner, chunk, language)
        if not sources:
            return ActionStartQuiz(self._quizzes, self._titles).start(dispatcher, tracker, learner, None)
        try:
            question = self.quizzes.start_quiz(learner, documents=sources, n=QUESTIONS_PER_QUIZ, language=language)
        except NoQuestionsError:
            topic = self.titles.get(sources[-1], sources[-1])
            dispatcher.utter_message(text=t("quiz_no_questions_this", language, topic=topic))
            return self.ended()
        dispatcher.utter_message(text=t("quiz_start", language, scope=t("quiz_scope_this", language)))
        return self.ask(dispatcher, question, language, tracker)

    def passage(self, tracker: Tracker) -> Any:
        """The passage just shown, or None (never raises: the documents are the fallback)."""
        try:
            if self._passage is not None:
                return self._passage(tracker)
            from actions.knowledge import shown_passage

            return shown_passage(tracker)
        except Exception:
            log.exception("could not find the passage just shown")
            return None

    def start_on_passage(self, dispatcher: CollectingDispatcher, tracker: Tracker, learner: int, chunk: Any,
                         language: str) -> list[EventType]:
        """Start a quiz on the banks' and the drafted items of ``chunk``, or say it has none."""
        from bot.quizzes.passage_quiz import PASSAGE_STATUS, items_on_passage

        if self._passage_quizzes is None:
            from bot.wiring import get_passage_quizzes

            self._passage_quizzes = get_passage_quizzes()
        if self._document_chunks is None:
            from actions.knowledge import document_chunks

            self._document_chunks = document_chunks
        items = items_on_passage(self.quizzes.bank, self._passage_quizzes, chunk, self._document_chunks,
                                 QUESTIONS_PER_QUIZ)
        if not items:
            topic = self.titles.get(chunk.source, chunk.title)
            dispatcher.utter_message(text=t("quiz_no_questions_passage", language, topic=topic))
            return self.ended()
        self.quizzes.add_items(items)  # drafted ones: answers and reviews look them up in the bank
        scope = {"topic": None, "module": None, "documents": [chunk.source], "anchor": chunk.anchor}
        question = self.quizzes.quiz_sessions.start_items(learner, items, scope)
        intro = t("quiz_start", language, scope=t("quiz_scope_this", language))
        if any(item.status == PASSAGE_STATUS for item in items):
            intro += "\n\n" + t("quiz_generated_note", language)
        dispatcher.utter_message(text=intro)
        return self.ask(dispatcher, question, language, tracker)


class ActionCheckAnswer(QuizAction):
    """Check a button press or a typed answer; give feedback; ask the next or sum up."""

    def name(self) -> str:
        return "action_check_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.quizzes import NoActiveQuizError

        language = language_of(tracker)
        marked = next(tracker.get_latest_entity_values("quiz_answer"), None)
        response = marked or latest_text(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:  # e.g. an onboarding lesson's question before consent: record nothing
            return self.ended()
        if not self.is_answer(tracker, learner, response, marked is not None):
            # A question or request mid-quiz: answer it, then the quiz waits and asks again.
            events = list(await self.knowledge.run(dispatcher, tracker, domain))
            return events + self.repeat(dispatcher, learner, language, tracker)
        try:
            outcome = self.quizzes.answer(learner, response, item_id=tracker.get_slot("quiz_item_id"))
        except NoActiveQuizError:
            dispatcher.utter_message(text=t("quiz_none_active", language))
            return self.ended()
        return self.follow_up(dispatcher, outcome, language, tracker)

    def is_answer(self, tracker: Tracker, learner: int, response: str, marked: bool) -> bool:
        """Whether the reply answers the waiting question (else it is a digression).

        Buttons and replies the classifier read as answers always count (an unreadable
        one gets "Please answer ..."); other typed replies count only when they look
        like an answer to this item (or, when Rasa retries a turn whose answer ended
        the quiz, to the item the learner saw).
        """
        from bot.quizzes.answers import reads_as_answer

        marked = marked or _intent(tracker) == "answer_quiz"
        question = self.quizzes.current_question(learner)
        item_id = question.item_id if question is not None else tracker.get_slot("quiz_item_id")
        item = self.quizzes.bank.get(item_id) if item_id else None
        if item is None:
            return marked
        return reads_as_answer(item, response, marked_as_answer=marked)

    def follow_up(self, dispatcher: CollectingDispatcher, outcome, language: str,
                  tracker: Tracker | None = None) -> list[EventType]:
        """Feedback, then the next question or the summary."""
        if outcome.duplicate:
            log.info("answer already recorded for %s (retried turn)", outcome.item.id)
        dispatcher.utter_message(text=outcome.feedback_markdown(language, self.titles))
        if outcome.question is not None:
            if not outcome.recognised:  # same question again: re-show its buttons only
                return [SlotSet("quiz_active", True), SlotSet("quiz_item_id", outcome.question.item_id)]
            return self.ask(dispatcher, outcome.question, language, tracker)
        if outcome.summary is not None:
            dispatcher.utter_message(text=outcome.summary.as_markdown(language))
        return self.ended()


class ActionSkipQuestion(ActionCheckAnswer):
    """Skip the current question (it comes back in a review)."""

    def name(self) -> str:
        return "action_skip_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.quizzes import NoActiveQuizError

        language = language_of(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended()
        try:
            outcome = self.quizzes.skip(learner, item_id=tracker.get_slot("quiz_item_id"))
        except NoActiveQuizError:
            dispatcher.utter_message(text=t("quiz_none_active", language))
            return self.ended()
        return self.follow_up(dispatcher, outcome, language, tracker)


class ActionStopQuiz(QuizAction):
    """Stop (pause) the quiz and show the score so far."""

    def name(self) -> str:
        return "action_stop_quiz"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.learner_id(tracker)
        summary = self.quizzes.stop(learner) if learner is not None else None
        dispatcher.utter_message(text=summary.as_markdown(language) if summary else t("quiz_none_active", language))
        return self.ended()


class ActionResumeQuiz(QuizAction):
    """Resume a paused quiz where the learner stopped."""

    def name(self) -> str:
        return "action_resume_quiz"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.learner_id(tracker)
        question = self.quizzes.resume(learner) if learner is not None else None
        if question is None:
            dispatcher.utter_message(text=t("quiz_nothing_to_resume", language))
            return self.ended()
        dispatcher.utter_message(text=t("quiz_resumed", language))
        return self.ask(dispatcher, question, language, tracker)


class ActionStartReview(QuizAction):
    """Start a review of the items that are due (missed ones come back sooner)."""

    def name(self) -> str:
        return "action_start_review"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.quizzes import IST, NoQuestionsError

        language = language_of(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended() + _pending(tracker)
        try:
            question = self.quizzes.start_review(learner, n=QUESTIONS_PER_QUIZ)
        except NoQuestionsError as exc:
            when = getattr(exc, "next_due", None)
            text = (t("quiz_review_next_due", language, when=f"{when.astimezone(IST):%d-%m-%Y %H:%M} IST") if when
                    else t("quiz_review_none", language))
            dispatcher.utter_message(text=text)
            return self.ended()
        dispatcher.utter_message(text=t("quiz_review_start", language, count=question.total))
        return self.ask(dispatcher, question, language, tracker)


class ActionShowProgress(QuizAction):
    """Mastery by competency and module, streak, due reviews, recent scores."""

    def name(self) -> str:
        return "action_show_progress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return []
        progress = self.quizzes.progress(learner)
        buttons = [button(t("button_quiz_me", language), "/quiz_me")]
        if progress.items_due:
            buttons.insert(0, button(t("button_review", language), "/review"))
        dispatcher.utter_message(text=progress.as_markdown(language), buttons=buttons)
        return []


class ActionRepeatQuestion(QuizAction):
    """After a digression mid-quiz or mid-lesson (help, a greeting, a rating): ask the waiting question again."""

    def name(self) -> str:
        return "action_repeat_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        return self.repeat(dispatcher, self.learner_id(tracker), language_of(tracker), tracker)


class ActionResumeRequest(QuizAction):
    """After the privacy notice: start what the learner asked for before it, once they accept.

    Runs after ``action_record_consent``; forgets the request when they declined.
    """

    def name(self) -> str:
        return "action_resume_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        request = tracker.get_slot("pending_request")
        forget: list[EventType] = [SlotSet("pending_request", None), SlotSet("request_pending", False)]
        if not isinstance(request, dict):
            return forget if tracker.get_slot("request_pending") else []
        learner = self.learner_id(tracker)  # None until the notice was accepted
        if learner is None:
            return forget
        intent = request.get("intent")
        if intent == "review":
            action: QuizAction = ActionStartReview(self._quizzes, self._titles)
        elif intent == "quiz_me_on_this":
            action = ActionStartQuizOnThis(self._quizzes, self._titles)
        else:
            topic = request.get("topic") if isinstance(request.get("topic"), str) else None
            return forget + ActionStartQuiz(self._quizzes, self._titles).start(dispatcher, tracker, learner, topic)
        return forget + list(await action.run(dispatcher, tracker, domain))
