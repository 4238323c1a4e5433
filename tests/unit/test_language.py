"""One rule for "this text is Hindi" and one for "this is a word", read the same way by
document loading, quiz selection, the learner's language, search and the handoff queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.common import detect_language
from bot.handoff.similarity import LexicalSimilarity
from bot.knowledge.documents import load_document
from bot.knowledge.text import tokenize
from bot.language import MAX_MESSAGE_CHARS, WORD, is_mostly_devanagari, script_language
from bot.learning.banks import QuizItem
from bot.learning.quiz import item_language
from bot.web.socketio_frames import FrameRejected, parse_client_frame

#: 3 Devanagari letters of 10 (exactly the 30 % share: not Hindi) and 4 of 10 (Hindi).
AT_SHARE = "abcdefg कखग"
OVER_SHARE = "abcdef कखगघ"


@pytest.mark.parametrize(("text", "hindi"), [
    ("छुट्टी के नियम क्या हैं?", True),
    ("RTI के तहत जानकारी कैसे मांगें", True),
    ("What does the RTI Act say about fees?", False),
    (AT_SHARE, False),
    (OVER_SHARE, True),
    ("", False),
    ("2024 - 10 / 5", False),
])
def test_mostly_devanagari_is_more_than_thirty_percent_of_the_letters(text: str, hindi: bool) -> None:
    assert is_mostly_devanagari(text) is hindi
    assert script_language(text) == ("hi" if hindi else "en")


def test_words_keep_hindi_vowel_signs_and_split_at_the_danda() -> None:
    assert WORD.findall("छुट्टी मिलती है।अवकाश") == ["छुट्टी", "मिलती", "है", "अवकाश"]
    assert tokenize("छुट्टी मिलती है।अवकाश", drop_stopwords=False) == ["छुट्टी", "मिलती", "है", "अवकाश"]


def _item(question: str) -> QuizItem:
    return QuizItem(id="q1", module="m", module_title="M", type="single", question=question,
                    options=("a", "b"), answer="a")


@pytest.mark.parametrize("text", [AT_SHARE, OVER_SHARE, "छुट्टी के नियम", "casual leave rules"])
def test_every_door_reads_the_script_the_same_way(text: str, tmp_path: Path) -> None:
    expected = script_language(text)
    assert item_language(_item(text)) == expected
    # The learner's-language guess may also say "too short to tell" for Latin script.
    assert detect_language(text) == expected if expected == "hi" else detect_language(text) in ("en", None)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\n{text}\n", encoding="utf-8")
    assert load_document(doc, tmp_path).meta["language"] == script_language(f"Title {text}")


def test_handoff_similarity_matches_hindi_questions_word_for_word() -> None:
    similarity = LexicalSimilarity()
    same, other = similarity.scores("छुट्टी कैसे मिलती है?", ["छुट्टी कैसे मिलती है", "पेंशन नियम"])
    assert same > other


def test_the_widget_refuses_a_message_over_the_shared_limit() -> None:
    frame = '42["user_uttered",{"message":"%s"}]'
    assert parse_client_frame(frame % ("x" * MAX_MESSAGE_CHARS)).message == "x" * MAX_MESSAGE_CHARS
    with pytest.raises(FrameRejected, match="bad message"):
        parse_client_frame(frame % ("x" * (MAX_MESSAGE_CHARS + 1)))
