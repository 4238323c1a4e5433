"""Interface languages are data: the locale files' ``language:`` blocks (bot.i18n).

The last test adds a language (Bengali) the way the README says, as one locale file in a
temporary locale folder, and follows it through every place that lists or accepts
interface languages, with no code edited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import detect_language
from actions.session import ActionChooseLanguage, language_buttons
from bot import i18n
from bot.channels.telegram_bridge import COMMANDS, command_menus, learner_language
from bot.handoff.faq import faq_markdown, slugify
from bot.i18n import (
    LocaleError,
    interface_language,
    interface_languages,
    is_interface_language,
    language_for_name,
    language_name,
    t,
)
from bot.knowledge.chunking import Chunk
from bot.knowledge.search import Hit, SearchResult
from bot.plans.matching import match_role
from bot.plans.roles import load_roles
from bot.quizzes.generated_banks import generate
from bot.quizzes.passage_quiz import draft_items
from bot.replies import compose_answer, full_passage, source_warnings
from bot.web.socketio_frames import OfferedPayloads, is_widget_payload, parse_client_frame
from bot.web.widget_config import widget_config, widget_texts
from tests.unit.handoff_support import FakePush, make_loop

ROOT = Path(__file__).resolve().parents[2]
BENGALI_HEADER = {
    "name": "Bengali",
    "native_name": "বাংলা",
    "script": "Bengali",
    "names": {"en": "ইংরেজি", "hi": "হিন্দি"},
    "aliases": ["bangla"],
}


def _chunk(language: str = "en", **meta: Any) -> Chunk:
    return Chunk("c1", "rti.md", "RTI Act", ["Fees"], "Fees", "The fee for an RTI application is ten rupees.",
                 meta={"language": language, **meta})


def _tracker(intent: str = "choose_language", language: str = "en") -> Tracker:
    return Tracker("web-1", {"language": language}, {"text": "/choose_language", "intent": {"name": intent},
                                                      "entities": []}, [], False, None, None, "action_listen")


def test_the_shipped_locales_are_english_first_then_hindi() -> None:
    codes = [lang.code for lang in interface_languages()]
    assert codes[0] == "en" and "hi" in codes
    assert codes == ["en"] + sorted(codes[1:])
    assert set(codes) == {p.stem for p in (ROOT / "bot" / "locales").glob("*.yml")}
    hindi = interface_language("hi")
    assert hindi is not None and hindi.native_name == "हिंदी" and hindi.script == "Devanagari"


def test_language_names_are_read_in_the_learners_language() -> None:
    assert language_name("hi", "en") == "Hindi"
    assert language_name("en", "hi") == "अंग्रेज़ी"
    assert language_name("hi", "hi") == "हिंदी"
    assert language_name("ta", "en") == "ta"  # a document's language without a locale: its code


@pytest.mark.parametrize(("word", "code"), [
    ("English", "en"), ("angrezi", "en"), ("अंग्रेजी", "en"), ("अंग्रेज़ी", "en"),
    ("hindi", "hi"), ("HI", "hi"), ("हिंदी", "hi"), ("हिन्दी", "hi"), ("klingon", None), ("", None),
])
def test_learners_may_name_a_language_in_either_script(word: str, code: str | None) -> None:
    assert language_for_name(word) == code


def test_every_shipped_locale_has_every_english_text_key() -> None:
    english = set(yaml.safe_load((ROOT / "bot/locales/en.yml").read_text(encoding="utf-8")))
    for path in (ROOT / "bot" / "locales").glob("*.yml"):
        keys = set(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert english - keys == set(), path.name


def test_source_notes_come_from_the_locale_with_its_date_format() -> None:
    chunk = _chunk(superseded_by="RTI Rules 2025", expires="2025-03-31", effective="2027-01-01")
    english = source_warnings(chunk, "en", today=dt.date(2026, 1, 1))
    hindi = source_warnings(chunk, "hi", today=dt.date(2026, 1, 1))
    assert "superseded" in english[0] and "RTI Rules 2025" in english[0]
    assert "31 March 2025" in english[1] and "01 January 2027" in english[2]
    assert "प्रतिस्थापित" in hindi[0] and "31-03-2025" in hindi[1] and "01-01-2027" in hindi[2]


def test_the_other_language_note_names_the_source_language_in_the_learners_language() -> None:
    result = SearchResult("आरटीआई शुल्क कितना है?", True, [Hit(_chunk("en"), 1.0)])
    answer = compose_answer(result, None, language="hi")
    assert answer is not None
    assert "📖 **स्रोत:** RTI Act" in answer.text
    assert t("answer_source_other_language", "hi", language_name="अंग्रेज़ी") in answer.warnings


def test_the_widgets_english_fallback_mirrors_the_english_locale() -> None:
    """The widget speaks English until the server's list arrives; those texts are en.yml's."""
    script = (ROOT / "web" / "widget" / "tutor-widget.js").read_text(encoding="utf-8")
    block = script[script.index("var FALLBACK = {"):script.index("};", script.index("var FALLBACK = {"))]
    fallback = dict(re.findall(r'^\s+(\w+): "((?:[^"\\]|\\.)*)",$', block, re.MULTILINE))
    assert fallback == widget_texts("en")


@pytest.mark.parametrize(("text", "problem"), [
    ("greeting: Hello\n", "no 'language:' block"),
    ("language: {name: English, script: Latin}\n", "lacks native_name"),
    ("language: {name: English, native_name: English, script: Klingon}\n", "unknown script"),
])
def test_a_locale_without_a_valid_language_block_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            text: str, problem: str) -> None:
    (tmp_path / "en.yml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    with pytest.raises(LocaleError, match=problem):
        interface_languages()


@pytest.fixture
def with_bengali(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped locales plus a Bengali one, as an operator would add it: a file, no code."""
    folder = tmp_path / "locales"
    folder.mkdir()
    for path in (ROOT / "bot" / "locales").glob("*.yml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    bengali = {
        "language": BENGALI_HEADER,
        "answer_source": "উৎস",
        "answer_source_other_language": "ℹ️ উৎসটি {language_name} ভাষায়; যেমন লেখা আছে তেমনই দেখানো হলো।",
        "handoff_trainer_answer": "👩‍🏫 **প্রশিক্ষক আপনার প্রশ্নের উত্তর দিয়েছেন** _{question}_:\n\n{answer}",
        "menu_quiz": "একটি ছোট কুইজ দিন",
        "telegram_no_reply": "এর উত্তর এখনও আমার কাছে নেই।",
        "widget_placeholder": "আপনার কোর্স সম্পর্কে জিজ্ঞাসা করুন…",
        "widget_chosen": "{language_name} ভাষায় উত্তর দিন",
        "quiz_cloze_prompt": "শূন্যস্থান পূরণ করুন:",
        "quiz_generated_bank_title": "{title} - স্বয়ংক্রিয় প্রশ্ন",
        "quiz_no_questions_passage": "এই অংশ থেকে প্রশ্ন তৈরি করা গেল না। _{topic}_ নিয়ে কুইজ চাইতে পারেন।",
    }
    (folder / "bn.yml").write_text(yaml.safe_dump(bengali, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", folder)
    return folder


def test_a_language_added_as_a_locale_file_reaches_every_channel(with_bengali: Path, tmp_path: Path) -> None:
    # The registry.
    assert [lang.code for lang in interface_languages()][:1] == ["en"]
    assert is_interface_language("bn") and language_for_name("bangla") == "bn" and language_for_name("বাংলা") == "bn"
    assert language_name("bn", "en") == "Bengali" and language_name("en", "bn") == "ইংরেজি"
    assert detect_language("আরটিআই আবেদনের ফি কত?") == "bn"  # replies follow the learner's script

    # Telegram: a command menu published for Bengali apps, and the bridge's notes for them.
    menus = dict(command_menus())
    assert [c.description for c in menus["bn"] if c.command == "quiz"] == ["একটি ছোট কুইজ দিন"]
    assert len(menus["bn"]) == len(COMMANDS)  # untranslated entries fall back to English
    assert learner_language(type("User", (), {"language_code": "bn"})()) == "bn"
    assert t("telegram_no_reply", learner_language(type("User", (), {"language_code": "bn-IN"})())) \
        == "এর উত্তর এখনও আমার কাছে নেই।"

    # The language menu (Telegram and the widget's chat): a button for Bengali, named in Bengali.
    assert {"title": "বাংলা", "payload": '/choose_language{"language": "bn"}'} in language_buttons()
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionChooseLanguage().run(dispatcher, _tracker(), {}))
    [menu] = dispatcher.messages
    assert menu["response"] == "utter_choose_language"
    assert [b["title"] for b in menu["buttons"]] == [lang.native_name for lang in interface_languages()]

    # The widget: listed by the server with its texts; its switch and language pass the proxy.
    listed = {lang["code"]: lang for lang in widget_config()["languages"]}
    assert listed["bn"]["nativeName"] == "বাংলা" and listed["bn"]["script"] == "Bengali"
    assert listed["bn"]["strings"]["placeholder"] == "আপনার কোর্স সম্পর্কে জিজ্ঞাসা করুন…"
    assert listed["bn"]["strings"]["chosen"] == "বাংলা ভাষায় উত্তর দিন"
    assert listed["bn"]["strings"]["send"] == "Send"  # untranslated: English
    assert is_widget_payload('/choose_language{"language":"bn"}')
    assert OfferedPayloads().allows("x", '/choose_language{"language": "bn"}')
    frame = parse_client_frame('42["user_uttered",{"message":"নমস্কার","customData":{"language":"bn"}}]')
    assert frame.language == "bn"

    # Replies: the source label and the note about an English source, in Bengali.
    result = SearchResult("আরটিআই ফি কত?", True, [Hit(_chunk("en"), 1.0)])
    answer = compose_answer(result, None, language="bn")
    assert answer is not None and "📖 **উৎস:** RTI Act" in answer.text
    assert "ℹ️ উৎসটি ইংরেজি ভাষায়; যেমন লেখা আছে তেমনই দেখানো হলো।" in answer.warnings
    assert full_passage(_chunk(), "bn").endswith(f"📖 **উৎস:** {_chunk().citation}")

    # The human loop: a Bengali question is filed as Bengali FAQ and answered in Bengali.
    assert 'language: "bn"' in faq_markdown("আরটিআই ফি কত?", "দশ টাকা।", "meera", dt.date(2026, 1, 2), "bn")
    assert slugify("আরটিআই ফি কত?") == "আরটিআই-ফি-কত"
    push = FakePush()
    loop, _ = make_loop(tmp_path, push=push)
    ref = loop.record_unanswered("tg-aaa", "আরটিআই ফি কত?", [], "rest", language="bn")
    result_of_answer = loop.answer_item(ref, "দশ টাকা।", "meera", add_to_kb=True, faq_question="আরটিআই ফি কত?")
    assert push.sent[0][1].startswith("👩‍🏫 **প্রশিক্ষক আপনার প্রশ্নের উত্তর দিয়েছেন**")
    assert 'language: "bn"' in result_of_answer.kb_path.read_text(encoding="utf-8")


def test_a_language_without_a_locale_is_still_refused(with_bengali: Path) -> None:
    assert not is_interface_language("ta")
    assert detect_language("ஆர்டிஐ கட்டணம் என்ன?") is None  # no Tamil locale: replies stay as they were
    assert not is_widget_payload('/choose_language{"language":"ta"}')
    assert not OfferedPayloads().allows("x", '/choose_language{"language":"ta"}')
    assert not OfferedPayloads().allows("x", '/choose_language{"language":"bn","role":"admin"}')
    assert 'language: "en"' in faq_markdown("q", "a", "t", dt.date(2026, 1, 2), "ta")
    assert learner_language(type("User", (), {"language_code": "ta"})()) == "en"


def test_a_new_language_reaches_quizzes_and_roles_without_code(with_bengali: Path, tmp_path: Path) -> None:
    # Cloze items drafted from Bengali material (a passage, or a module's generated bank) speak Bengali.
    passage = Chunk("bn-1", "modules/rti-bn.md", "RTI", ["Fees"], "Fees",
                    "A first appeal lies to the First Appellate Authority within 30 days of the decision. "
                    "A second appeal lies to the Commission within 90 days of the first decision.",
                    meta={"module": "rti-bn", "language": "bn"})
    drafted = draft_items(passage, today=dt.date(2026, 3, 2))
    assert drafted and all(i["question"].startswith("শূন্যস্থান পূরণ করুন:") for i in drafted)
    kb = tmp_path / "kb"
    (kb / "modules").mkdir(parents=True)
    (kb / "modules" / "rti-bn.md").write_text(
        "---\ntitle: RTI\nmodule: rti-bn\nlanguage: bn\n---\n\n# Fees\n\n" + passage.text + "\n", encoding="utf-8")
    generate(kb, today=dt.date(2026, 3, 2))
    bank = yaml.safe_load((kb / "quizzes" / "generated" / "rti-bn.quiz.yml").read_text(encoding="utf-8"))
    assert bank["title"] == "RTI - স্বয়ংক্রিয় প্রশ্ন" and bank["language"] == "bn"
    assert t("quiz_no_questions_passage", "bn", topic="RTI").startswith("এই অংশ থেকে")

    # A role named in Bengali (names:), next to one still written with the older name_hi.
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "section-officer.yml").write_text(
        "id: section-officer\nname: Section Officer\nname_hi: अनुभाग अधिकारी\nnames: {bn: সেকশন অফিসার}\n"
        "competencies: [{name: Leave, type: domain, priority: 3, modules: [leave]}]\n", encoding="utf-8")
    model, problems = load_roles(roles, modules={"leave"})
    assert [p for p in problems if p.severity == "error"] == []
    role = model.get("section-officer")
    assert role is not None
    assert (role.display("bn"), role.display("hi"), role.display("ta")) == \
        ("সেকশন অফিসার", "अनुभाग अधिकारी", "Section Officer")
    matched = match_role("সেকশন অফিসার", model).role
    assert matched is not None and matched.id == "section-officer"
