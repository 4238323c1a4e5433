"""English terms for Hindi and Hinglish questions, and how fusion uses them."""

from __future__ import annotations

import numpy as np

from bot.knowledge.english_terms import english_terms, with_english_terms
from bot.knowledge.search import FUSION_WEIGHTS, fuse


def test_phrases_win_over_the_words_inside_them_and_each_term_comes_once():
    assert english_terms("अर्जित अवकाश कितने दिन का मिलता है") == ["earned leave", "how many days"]
    assert english_terms("छुट्टी और अवकाश") == ["leave"]


def test_hinglish_words_get_their_terms_too():
    assert "leave" in english_terms("mujhe chutti ke niyam batao")


def test_english_questions_and_function_words_are_left_alone():
    assert with_english_terms("what is earned leave") == ("what is earned leave", False)
    assert english_terms("क्या है का की के") == []


def test_terms_already_in_the_question_are_not_repeated():
    text, added = with_english_terms("earned leave अर्जित अवकाश")
    assert not added and text == "earned leave अर्जित अवकाश"


def test_a_translated_devanagari_question_lets_minilm_and_bm25_vote():
    dense = {"minilm": np.array([0.9, 0.1, 0.2]), "e5": np.array([0.5, 0.5, 0.5])}
    bm25 = np.array([5.0, 0.0, 1.0])
    untranslated = fuse(dense, bm25, indic=True)
    translated = fuse(dense, bm25, indic=True, translated=True)
    assert FUSION_WEIGHTS["minilm_translated"] > 0
    assert translated[0] > untranslated[0]  # MiniLM and BM25 both favour the first candidate
    assert np.allclose(fuse(dense, bm25), fuse(dense, bm25, translated=True))  # English: unchanged


def test_a_hindi_question_prefers_the_hindi_passage_over_its_english_twin(tmp_path, fake_embedder):
    from bot.knowledge.index import update_index
    from bot.knowledge.search import Retriever
    from tests.conftest import write

    write(tmp_path / "kb" / "rti-en.md", "---\ntitle: RTI\nlanguage: en\n---\n# RTI\n## Fees\n"
          "An RTI application is made with a fee of Rs 10.\n")
    write(tmp_path / "kb" / "leave.md", "---\ntitle: Leave\nlanguage: en\n---\n# Leave\n## Casual leave\n"
          "Casual leave is eight days a year.\n")
    write(tmp_path / "kb" / "rti-hi.md", "---\ntitle: सूचना का अधिकार\nlanguage: hi\n---\n# सूचना\n## शुल्क\n"
          "आरटीआई आवेदन का शुल्क 10 रुपये है।\n")
    update_index(tmp_path / "kb", tmp_path / "idx", [fake_embedder])
    retriever = Retriever(tmp_path / "idx", {"fake": fake_embedder}, reranker=None)
    assert retriever.search("आरटीआई आवेदन का शुल्क कितना है?").hits[0].chunk.source == "rti-hi.md"
    assert retriever.search("what is the RTI application fee").hits[0].chunk.source == "rti-en.md"


def test_every_language_list_loads_and_no_two_lists_disagree_on_a_word():
    from bot.knowledge import safe_yaml
    from bot.knowledge.english_terms import TERMS_DIR

    meaning: dict[str, tuple[str, str]] = {}
    files = sorted(TERMS_DIR.glob("*.yml"))
    assert {p.stem for p in files} >= {"hi", "bn", "gu", "mr", "ta", "te"}
    for path in files:
        terms = safe_yaml.load_file(path)["terms"]
        assert len(terms) >= 300, path.name
        for key, value in terms.items():
            key = str(key).lower()
            assert str(value).strip(), (path.name, key)
            earlier = meaning.setdefault(key, (path.stem, str(value)))
            assert earlier[1] == str(value), (key, earlier, path.stem, value)  # files are merged: one meaning


def test_questions_in_each_language_get_their_english_terms():
    assert english_terms("অর্জিত ছুটি কত দিন পাওয়া যায়?")[0] == "earned leave"
    assert english_terms("મને પ્રાપ્ત રજા કેટલા દિવસની મળે?")[0] == "earned leave"
    assert english_terms("मला अर्जित रजेचे किती दिवस मिळतात?")[0] == "earned leave"
    assert english_terms("ஈட்டிய விடுப்பை எத்தனை நாட்கள் சேர்க்கலாம்?")[0] == "earned leave"
    assert english_terms("నాకు ఆర్జిత సెలవు ఎన్ని రోజులు వస్తుంది?")[0] == "earned leave"


def test_bengali_letters_with_a_dot_match_however_the_keyboard_typed_them():
    # য় is one code point on some keyboards and য + ় on others; the list is read either way.
    composed, decomposed = "ছুটির নিয়ম".replace("য়", "\u09df"), "ছুটির নিয়ম".replace("\u09df", "য়")
    assert english_terms(composed) == english_terms(decomposed) != []
