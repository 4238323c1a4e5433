"""Every shipped interface language is understood where the tutor reads free text.

The locale files tell learners what to type (the True/False and Skip buttons, lesson
times, their role); these tests hold each shipped language to what its texts promise,
through the same functions the actions call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import detect_language
from actions.profile import is_skip
from actions.session import ActionChooseLanguage, language_events
from bot.i18n import interface_language, interface_languages, t
from bot.plans.matching import match_role
from bot.plans.onboarding import parse_time
from bot.plans.roles import load_roles
from bot.quizzes import QuizBank
from bot.quizzes.answers import check_answer
from bot.quizzes.banks import QuizItem

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [lang.code for lang in interface_languages()]
OTHERS = [code for code in SHIPPED if code not in ("en", "hi")]
#: One everyday sentence per language, as a learner would type it.
SENTENCES = {
    "bn": "আমাকে ছুটির নিয়ম বলুন",
    "gu": "મને રજાના નિયમો જણાવો",
    "mr": "मला रजेचे नियम सांगा",
    "ta": "விடுப்பு விதிகளைச் சொல்லுங்கள்",
    "te": "సెలవు నియమాలు చెప్పండి",
}
#: "Speak <language>", as learners write it: the case ending joined to the name.
IN_THE_LANGUAGE = {
    "en": "reply in English please",
    "hi": "हिंदी में बात करो",
    "bn": "বাংলায় বলুন",
    "gu": "ગુજરાતીમાં",
    "mr": "मराठीत बोला",
    "ta": "தமிழில் பேசுங்கள்",
    "te": "తెలుగులో మాట్లాడండి",
}
#: Quiz topics as learners name them: "leave", "pension", "RTI" and "earned leave".
QUIZ_TOPICS = {
    "hi": ("छुट्टी", "पेंशन", "सूचना का अधिकार", "अर्जित अवकाश"),
    "bn": ("ছুটি", "পেনশন", "তথ্যের অধিকার আইন", "অর্জিত ছুটি"),
    "gu": ("રજા", "પેન્શન", "માહિતી અધિકાર", "પ્રાપ્ત રજા"),
    "mr": ("रजा", "निवृत्तीवेतन", "माहिती अधिकार", "अर्जित रजा"),
    "ta": ("விடுப்பு", "ஓய்வூதியம்", "தகவல் அறியும் உரிமை", "ஈட்டிய விடுப்பு"),
    "te": ("సెలవు", "పింఛను", "సమాచార హక్కు", "ఆర్జిత సెలవు"),
}
#: "Evening, seven o'clock" in each language.
EVENING_SEVEN = {
    "bn": "সন্ধ্যা ৭টায়",
    "gu": "સાંજે 7 વાગ્યે",
    "mr": "संध्याकाळी 7 वाजता",
    "ta": "மாலை 7 மணிக்கு",
    "te": "సాయంత్రం 7 గంటలకు",
}


def _true_false(answer: bool) -> QuizItem:
    return QuizItem(id="q1", module="m", module_title="M", type="true_false", question="?",
                    options=("True", "False"), answer=answer)


def test_the_seven_interface_languages_ship() -> None:
    assert SHIPPED == ["en", "bn", "gu", "hi", "mr", "ta", "te"]
    assert set(SENTENCES) == set(EVENING_SEVEN) == set(OTHERS)


@pytest.mark.parametrize("code", SHIPPED)
def test_true_and_false_are_read_as_the_buttons_name_them(code: str) -> None:
    for answer in (True, False):
        said, other = t("quiz_true", code), t("quiz_false", code)
        typed = said if answer else other
        check = check_answer(_true_false(answer), typed)
        assert check.recognised and check.correct, (code, typed)
        assert not check_answer(_true_false(not answer), typed).correct


@pytest.mark.parametrize("code", SHIPPED)
def test_skip_is_read_as_the_button_names_it(code: str) -> None:
    assert is_skip(t("quiz_button_skip", code))
    assert not is_skip(t("empty_message", code))


@pytest.mark.parametrize("code", OTHERS)
def test_a_message_in_the_language_switches_replies_to_it(code: str) -> None:
    assert detect_language(SENTENCES[code]) == code


def test_hindi_in_devanagari_stays_hindi_next_to_marathi() -> None:
    assert detect_language("मुझे छुट्टी के नियम बताइए") == "hi"
    assert detect_language("नमस्ते") == "hi"


@pytest.mark.parametrize("code", OTHERS)
def test_an_evening_lesson_time_is_read_as_evening(code: str) -> None:
    assert parse_time(EVENING_SEVEN[code]) == "19:00"


@pytest.mark.parametrize("code", OTHERS)
def test_every_role_is_named_and_recognised_in_the_language(code: str) -> None:
    model, problems = load_roles(ROOT / "knowledge_base" / "roles")
    assert [p for p in problems if p.severity == "error"] == []
    for role in model.roles.values():
        name = role.display(code)
        assert name != role.name, (code, role.id)
        matched = match_role(name, model).role
        assert matched is not None and matched.id == role.id, (code, name)


@pytest.mark.parametrize("code", OTHERS)
def test_the_locale_names_english_and_hindi(code: str) -> None:
    language = interface_language(code)
    assert language is not None and {"en", "hi"} <= set(language.names)


def _said(text: str, intent: str, language: str = "en") -> Tracker:
    message = {"text": text, "intent": {"name": intent}, "intent_ranking": [{"name": intent}], "entities": []}
    return Tracker("web-1", {"language": language}, message, [], False, None, None, "action_listen")


@pytest.mark.parametrize("code", SHIPPED)
def test_naming_the_language_with_its_case_ending_switches_to_it(code: str) -> None:
    # The NLU tags "ગુજરાતી" but not "ગુજરાતીમાં"; the learner still gets Gujarati, not the menu.
    tracker = _said(IN_THE_LANGUAGE[code], "choose_language", language="hi" if code == "en" else "en")
    assert language_events(tracker) == [SlotSet("language", code), SlotSet("language_chosen", True)]
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionChooseLanguage().run(dispatcher, tracker, {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_language_set"]
    assert SlotSet("language", code) in events


def test_a_language_named_in_a_question_is_not_a_choice() -> None:
    # "Tamil Nadu" in a question is about Tamil Nadu; replies follow the question's script.
    assert language_events(_said("what are the Tamil Nadu leave rules", "ask_question")) == []
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionChooseLanguage().run(dispatcher, _said("/choose_language", "choose_language"), {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_choose_language"]


@pytest.mark.parametrize("code", OTHERS + ["hi"])
def test_a_quiz_topic_named_in_the_language_finds_its_module(code: str) -> None:
    bank, _ = QuizBank.load(ROOT / "knowledge_base" / "quizzes")
    leave, pension, rti, earned_leave = QUIZ_TOPICS[code]
    assert {i.module for i in bank.for_topic(leave)} == {"leave-basics"}
    assert {i.module for i in bank.for_topic(pension)} == {"pension-retirement"}
    rti_modules = {i.module for i in bank.for_topic(rti)}
    assert rti_modules and rti_modules <= {"rti-for-pios", "rti-basics-hi"}
    assert "leave-basics" in {i.module for i in bank.for_topic(earned_leave)}
