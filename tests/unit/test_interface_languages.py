"""Interface languages are data: the locale files' ``language:`` blocks (bot.i18n).

The last test adds a language (Kannada) the way the README says, as one locale file in a
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
KANNADA_HEADER = {
    "name": "Kannada",
    "native_name": "ಕನ್ನಡ",
    "script": "Kannada",
    "names": {"en": "ಇಂಗ್ಲಿಷ್", "hi": "ಹಿಂದಿ"},
    "aliases": ["kannada"],
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
    assert language_name("ml", "en") == "ml"  # a document's language without a locale: its code


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
def with_kannada(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped locales plus a Kannada one, as an operator would add it: a file, no code."""
    folder = tmp_path / "locales"
    folder.mkdir()
    for path in (ROOT / "bot" / "locales").glob("*.yml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    kannada = {
        "language": KANNADA_HEADER,
        "answer_source": "ಮೂಲ",
        "answer_source_other_language": "ℹ️ ಮೂಲವು {language_name} ಭಾಷೆಯಲ್ಲಿದೆ; ಇದ್ದಂತೆಯೇ ತೋರಿಸಲಾಗಿದೆ.",
        "handoff_trainer_answer": "👩‍🏫 **ತರಬೇತುದಾರರು ನಿಮ್ಮ ಪ್ರಶ್ನೆಗೆ ಉತ್ತರಿಸಿದ್ದಾರೆ** _{question}_:\n\n{answer}",
        "menu_quiz": "ಒಂದು ಸಣ್ಣ ರಸಪ್ರಶ್ನೆ ಕೊಡಿ",
        "telegram_no_reply": "ಇದಕ್ಕೆ ಉತ್ತರ ಇನ್ನೂ ನನ್ನ ಬಳಿ ಇಲ್ಲ.",
        "widget_placeholder": "ನಿಮ್ಮ ಕೋರ್ಸ್ ಬಗ್ಗೆ ಕೇಳಿ…",
        "widget_chosen": "{language_name} ಭಾಷೆಯಲ್ಲಿ ಉತ್ತರಿಸಿ",
        "quiz_cloze_prompt": "ಖಾಲಿ ಜಾಗ ತುಂಬಿ:",
        "quiz_generated_bank_title": "{title} - ಸ್ವಯಂ ಪ್ರಶ್ನೆಗಳು",
        "quiz_no_questions_passage": "ಈ ಭಾಗದಿಂದ ಪ್ರಶ್ನೆಗಳನ್ನು ರಚಿಸಲಾಗಲಿಲ್ಲ. _{topic}_ ಕುರಿತು ರಸಪ್ರಶ್ನೆ ಕೇಳಬಹುದು.",
    }
    (folder / "kn.yml").write_text(yaml.safe_dump(kannada, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", folder)
    return folder


def test_a_language_added_as_a_locale_file_reaches_every_channel(with_kannada: Path, tmp_path: Path) -> None:
    # The registry.
    assert [lang.code for lang in interface_languages()][:1] == ["en"]
    assert is_interface_language("kn") and language_for_name("kannada") == "kn" and language_for_name("ಕನ್ನಡ") == "kn"
    assert language_name("kn", "en") == "Kannada" and language_name("en", "kn") == "ಇಂಗ್ಲಿಷ್"
    assert detect_language("ಆರ್ಟಿಐ ಅರ್ಜಿಯ ಶುಲ್ಕ ಎಷ್ಟು?") == "kn"  # replies follow the learner's script

    # Telegram: a command menu published for Kannada apps, and the bridge's notes for them.
    menus = dict(command_menus())
    assert [c.description for c in menus["kn"] if c.command == "quiz"] == ["ಒಂದು ಸಣ್ಣ ರಸಪ್ರಶ್ನೆ ಕೊಡಿ"]
    assert len(menus["kn"]) == len(COMMANDS)  # untranslated entries fall back to English
    assert learner_language(type("User", (), {"language_code": "kn"})()) == "kn"
    assert t("telegram_no_reply", learner_language(type("User", (), {"language_code": "kn-IN"})())) \
        == "ಇದಕ್ಕೆ ಉತ್ತರ ಇನ್ನೂ ನನ್ನ ಬಳಿ ಇಲ್ಲ."

    # The language menu (Telegram and the widget's chat): a button for Kannada, named in Kannada.
    assert {"title": "ಕನ್ನಡ", "payload": '/choose_language{"language": "kn"}'} in language_buttons()
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionChooseLanguage().run(dispatcher, _tracker(), {}))
    [menu] = dispatcher.messages
    assert menu["response"] == "utter_choose_language"
    assert [b["title"] for b in menu["buttons"]] == [lang.native_name for lang in interface_languages()]

    # The widget: listed by the server with its texts; its switch and language pass the proxy.
    listed = {lang["code"]: lang for lang in widget_config()["languages"]}
    assert listed["kn"]["nativeName"] == "ಕನ್ನಡ" and listed["kn"]["script"] == "Kannada"
    assert listed["kn"]["strings"]["placeholder"] == "ನಿಮ್ಮ ಕೋರ್ಸ್ ಬಗ್ಗೆ ಕೇಳಿ…"
    assert listed["kn"]["strings"]["chosen"] == "ಕನ್ನಡ ಭಾಷೆಯಲ್ಲಿ ಉತ್ತರಿಸಿ"
    assert listed["kn"]["strings"]["send"] == "Send"  # untranslated: English
    assert is_widget_payload('/choose_language{"language":"kn"}')
    assert OfferedPayloads().allows("x", '/choose_language{"language": "kn"}')
    frame = parse_client_frame('42["user_uttered",{"message":"ನಮಸ್ಕಾರ","customData":{"language":"kn"}}]')
    assert frame.language == "kn"

    # Replies: the source label and the note about an English source, in Kannada.
    result = SearchResult("ಆರ್ಟಿಐ ಶುಲ್ಕ ಎಷ್ಟು?", True, [Hit(_chunk("en"), 1.0)])
    answer = compose_answer(result, None, language="kn")
    assert answer is not None and "📖 **ಮೂಲ:** RTI Act" in answer.text
    assert "ℹ️ ಮೂಲವು ಇಂಗ್ಲಿಷ್ ಭಾಷೆಯಲ್ಲಿದೆ; ಇದ್ದಂತೆಯೇ ತೋರಿಸಲಾಗಿದೆ." in answer.warnings
    assert full_passage(_chunk(), "kn").endswith(f"📖 **ಮೂಲ:** {_chunk().citation}")

    # The human loop: a Kannada question is filed as Kannada FAQ and answered in Kannada.
    assert 'language: "kn"' in faq_markdown("ಆರ್ಟಿಐ ಶುಲ್ಕ ಎಷ್ಟು?", "ಹತ್ತು ರೂಪಾಯಿ.", "meera", dt.date(2026, 1, 2), "kn")
    assert slugify("ಆರ್ಟಿಐ ಶುಲ್ಕ ಎಷ್ಟು?") == "ಆರ್ಟಿಐ-ಶುಲ್ಕ-ಎಷ್ಟು"
    push = FakePush()
    loop, _ = make_loop(tmp_path, push=push)
    ref = loop.record_unanswered("tg-aaa", "ಆರ್ಟಿಐ ಶುಲ್ಕ ಎಷ್ಟು?", [], "rest", language="kn")
    result_of_answer = loop.answer_item(ref, "ಹತ್ತು ರೂಪಾಯಿ.", "meera", add_to_kb=True, faq_question="ಆರ್ಟಿಐ ಶುಲ್ಕ ಎಷ್ಟು?")
    assert push.sent[0][1].startswith("👩‍🏫 **ತರಬೇತುದಾರರು ನಿಮ್ಮ ಪ್ರಶ್ನೆಗೆ ಉತ್ತರಿಸಿದ್ದಾರೆ**")
    assert 'language: "kn"' in result_of_answer.kb_path.read_text(encoding="utf-8")


def test_a_language_without_a_locale_is_still_refused(with_kannada: Path) -> None:
    assert not is_interface_language("ml")
    assert detect_language("ആർടിഐ ഫീസ് എത്രയാണ്?") is None  # no Malayalam locale: replies stay as they were
    assert not is_widget_payload('/choose_language{"language":"ml"}')
    assert not OfferedPayloads().allows("x", '/choose_language{"language":"ml"}')
    assert not OfferedPayloads().allows("x", '/choose_language{"language":"kn","role":"admin"}')
    assert 'language: "en"' in faq_markdown("q", "a", "t", dt.date(2026, 1, 2), "ml")
    assert learner_language(type("User", (), {"language_code": "ml"})()) == "en"


def test_a_new_language_reaches_quizzes_and_roles_without_code(with_kannada: Path, tmp_path: Path) -> None:
    # Cloze items drafted from Kannada material (a passage, or a module's generated bank) speak Kannada.
    passage = Chunk("kn-1", "modules/rti-kn.md", "RTI", ["Fees"], "Fees",
                    "A first appeal lies to the First Appellate Authority within 30 days of the decision. "
                    "A second appeal lies to the Commission within 90 days of the first decision.",
                    meta={"module": "rti-kn", "language": "kn"})
    drafted = draft_items(passage, today=dt.date(2026, 3, 2))
    assert drafted and all(i["question"].startswith("ಖಾಲಿ ಜಾಗ ತುಂಬಿ:") for i in drafted)
    kb = tmp_path / "kb"
    (kb / "modules").mkdir(parents=True)
    (kb / "modules" / "rti-kn.md").write_text(
        "---\ntitle: RTI\nmodule: rti-kn\nlanguage: kn\n---\n\n# Fees\n\n" + passage.text + "\n", encoding="utf-8")
    generate(kb, today=dt.date(2026, 3, 2))
    bank = yaml.safe_load((kb / "quizzes" / "generated" / "rti-kn.quiz.yml").read_text(encoding="utf-8"))
    assert bank["title"] == "RTI - ಸ್ವಯಂ ಪ್ರಶ್ನೆಗಳು" and bank["language"] == "kn"
    assert t("quiz_no_questions_passage", "kn", topic="RTI").startswith("ಈ ಭಾಗದಿಂದ")

    # A role named in Kannada (names:), next to one still written with the older name_hi.
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "section-officer.yml").write_text(
        "id: section-officer\nname: Section Officer\nname_hi: अनुभाग अधिकारी\nnames: {kn: ಸೆಕ್ಷನ್ ಆಫೀಸರ್}\n"
        "competencies: [{name: Leave, type: domain, priority: 3, modules: [leave]}]\n", encoding="utf-8")
    model, problems = load_roles(roles, modules={"leave"})
    assert [p for p in problems if p.severity == "error"] == []
    role = model.get("section-officer")
    assert role is not None
    assert (role.display("kn"), role.display("hi"), role.display("ml")) == \
        ("ಸೆಕ್ಷನ್ ಆಫೀಸರ್", "अनुभाग अधिकारी", "Section Officer")
    matched = match_role("ಸೆಕ್ಷನ್ ಆಫೀಸರ್", model).role
    assert matched is not None and matched.id == "section-officer"


def test_languages_sharing_a_script_are_told_apart_by_their_markers(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Hindi and Marathi are both Devanagari: the locale files' markers decide, else the script's usual one."""
    folder = tmp_path / "locales"
    folder.mkdir()
    for path in (ROOT / "bot" / "locales").glob("*.yml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    marathi = {"language": {"name": "Marathi", "native_name": "मराठी", "script": "Devanagari",
                            "markers": ["आहे", "आहेत", "मला", "सांगा", "किती"]}}
    (folder / "mr.yml").write_text(yaml.safe_dump(marathi, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", folder)
    assert detect_language("मला रजेचे नियम सांगा") == "mr"
    assert detect_language("आरटीआय अर्जाचे शुल्क किती आहे?") == "mr"
    assert detect_language("मुझे छुट्टी के नियम बताइए") == "hi"
    assert detect_language("आरटीआई शुल्क") == "hi"  # no marker either way: Devanagari's usual language
