"""Quizzes, spaced review and progress.

One question at a time: the question goes out with answer buttons plus Skip/Stop;
while ``quiz_active`` is true, a typed reply is read as an answer (rules route it
here); feedback cites the source; a summary closes the quiz. All state lives in the
learner store through :class:`bot.learning.Learning`, so a quiz survives restarts
and replicas, and a retried action never counts an answer twice (``quiz_item_id``).
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, latest_text, learner_key
from bot.i18n import t

log = logging.getLogger(__name__)

QUESTIONS_PER_QUIZ = 5


def _document_titles() -> dict[str, str]:
    """Document path -> title from the live index (for citations in feedback)."""
    try:
        from bot.services import get_retriever

        return {source: info["title"] for source, info in get_retriever().index.meta["documents"].items()}
    except Exception:  # no index yet: cite by path
        return {}


class QuizAction(Action, abc.ABC):
    """Base for quiz actions (abstract: rasa_sdk does not register it).

    Args:
        learning: a :class:`bot.learning.Learning` (default: the shared one).
        titles: document path -> title for citations (default: from the live index).
    """

    def __init__(self, learning=None, titles: dict[str, str] | None = None):
        self._learning = learning
        self._titles = titles

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @property
    def learning(self):
        if self._learning is None:
            from bot.services import get_learning

            return get_learning()
        return self._learning

    @property
    def titles(self) -> dict[str, str]:
        return self._titles if self._titles is not None else _document_titles()

    def learner_id(self, tracker: Tracker) -> int | None:
        """The learner's id if they accepted the privacy notice, else None (no row is created)."""
        from bot.privacy import consented_learner

        channel, external_id = learner_key(tracker)
        return consented_learner(self.learning, channel, external_id, language=language_of(tracker))

    def consented(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> int | None:
        """The learner's id once they accepted the privacy notice (DPDP Act); else show it, None.

        Progress (attempts, review state, mastery) is stored only after consent.
        """
        learner = self.learner_id(tracker)
        if learner is None:
            dispatcher.utter_message(response="utter_privacy_notice")
        return learner

    def ask(self, dispatcher: CollectingDispatcher, question, language: str) -> list[EventType]:
        """Send a question with its answer buttons and Skip/Stop; remember which it is."""
        buttons = question.buttons(language=language) + [
            button(t("quiz_button_skip", language), "/skip_question"),
            button(t("quiz_button_stop", language), "/stop_quiz"),
        ]
        dispatcher.utter_message(text=question.as_markdown(language), buttons=buttons)
        return [SlotSet("quiz_active", True), SlotSet("quiz_item_id", question.item_id)]

    @staticmethod
    def ended() -> list[EventType]:
        return [SlotSet("quiz_active", False), SlotSet("quiz_item_id", None)]


class ActionStartQuiz(QuizAction):
    """"quiz me" / "quiz me on RTI": start a quiz on a topic or on everything."""

    def name(self) -> str:
        return "action_start_quiz"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.learning import NoQuestionsError

        language = language_of(tracker)
        topic = next(tracker.get_latest_entity_values("quiz_topic"), None)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended()
        try:
            question = self.learning.start_quiz(learner, topic=topic, n=QUESTIONS_PER_QUIZ)
        except NoQuestionsError:
            dispatcher.utter_message(text=t("quiz_no_questions", language))
            return self.ended()
        scope = t("quiz_scope_topic", language, topic=topic) if topic else ""
        dispatcher.utter_message(text=t("quiz_start", language, scope=scope))
        return self.ask(dispatcher, question, language)


class ActionStartQuizOnThis(QuizAction):
    """"quiz me on this" after an answer: questions from the documents just shown."""

    def name(self) -> str:
        return "action_start_quiz_on_this"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.learning import NoQuestionsError

        language = language_of(tracker)
        sources = [s for s in (tracker.get_slot("last_sources") or []) if s]
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended()
        if not sources:
            return await ActionStartQuiz(self._learning, self._titles).run(dispatcher, tracker, domain)
        try:
            question = self.learning.start_quiz(learner, documents=sources, n=QUESTIONS_PER_QUIZ)
        except NoQuestionsError:
            topic = self.titles.get(sources[-1], sources[-1])
            dispatcher.utter_message(text=t("quiz_no_questions_this", language, topic=topic))
            return self.ended()
        dispatcher.utter_message(text=t("quiz_start", language, scope=t("quiz_scope_this", language)))
        return self.ask(dispatcher, question, language)


class ActionCheckAnswer(QuizAction):
    """Check a button press or a typed answer; give feedback; ask the next or sum up."""

    def name(self) -> str:
        return "action_check_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.learning import NoActiveQuizError

        language = language_of(tracker)
        response = next(tracker.get_latest_entity_values("quiz_answer"), None) or latest_text(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:  # e.g. an onboarding lesson's question before consent: record nothing
            return self.ended()
        try:
            outcome = self.learning.answer(learner, response, item_id=tracker.get_slot("quiz_item_id"))
        except NoActiveQuizError:
            dispatcher.utter_message(text=t("quiz_none_active", language))
            return self.ended()
        return self.follow_up(dispatcher, outcome, language)

    def follow_up(self, dispatcher: CollectingDispatcher, outcome, language: str) -> list[EventType]:
        """Feedback, then the next question or the summary."""
        if outcome.duplicate:
            log.info("answer already recorded for %s (retried turn)", outcome.item.id)
        dispatcher.utter_message(text=outcome.feedback_markdown(language, self.titles))
        if outcome.question is not None:
            if not outcome.recognised:  # same question again: re-show its buttons only
                return [SlotSet("quiz_active", True), SlotSet("quiz_item_id", outcome.question.item_id)]
            return self.ask(dispatcher, outcome.question, language)
        if outcome.summary is not None:
            dispatcher.utter_message(text=outcome.summary.as_markdown(language))
        return self.ended()


class ActionSkipQuestion(ActionCheckAnswer):
    """Skip the current question (it comes back in a review)."""

    def name(self) -> str:
        return "action_skip_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.learning import NoActiveQuizError

        language = language_of(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended()
        try:
            outcome = self.learning.skip(learner, item_id=tracker.get_slot("quiz_item_id"))
        except NoActiveQuizError:
            dispatcher.utter_message(text=t("quiz_none_active", language))
            return self.ended()
        return self.follow_up(dispatcher, outcome, language)


class ActionStopQuiz(QuizAction):
    """Stop (pause) the quiz and show the score so far."""

    def name(self) -> str:
        return "action_stop_quiz"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        language = language_of(tracker)
        learner = self.learner_id(tracker)
        summary = self.learning.stop(learner) if learner is not None else None
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
        question = self.learning.resume(learner) if learner is not None else None
        if question is None:
            dispatcher.utter_message(text=t("quiz_nothing_to_resume", language))
            return self.ended()
        dispatcher.utter_message(text=t("quiz_resumed", language))
        return self.ask(dispatcher, question, language)


class ActionStartReview(QuizAction):
    """Start a review of the items that are due (missed ones come back sooner)."""

    def name(self) -> str:
        return "action_start_review"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        from bot.learning import IST, NoQuestionsError

        language = language_of(tracker)
        learner = self.consented(dispatcher, tracker)
        if learner is None:
            return self.ended()
        try:
            question = self.learning.start_review(learner, n=QUESTIONS_PER_QUIZ)
        except NoQuestionsError as exc:
            when = getattr(exc, "next_due", None)
            text = (t("quiz_review_next_due", language, when=f"{when.astimezone(IST):%d-%m-%Y %H:%M} IST") if when
                    else t("quiz_review_none", language))
            dispatcher.utter_message(text=text)
            return self.ended()
        dispatcher.utter_message(text=t("quiz_review_start", language, count=question.total))
        return self.ask(dispatcher, question, language)


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
        progress = self.learning.progress(learner)
        buttons = [button(t("button_quiz_me", language), "/quiz_me")]
        if progress.items_due:
            buttons.insert(0, button(t("button_review", language), "/review"))
        dispatcher.utter_message(text=progress.as_markdown(language), buttons=buttons)
        return []
