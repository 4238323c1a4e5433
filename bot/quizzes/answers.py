"""Answer checking: option letters, option text, numbers, true/false words and free text.

Matching is forgiving about form (case, spacing, punctuation, Devanagari digits,
"30" vs "thirty" vs "30 days") but strict about content: a different number or a
different option is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import words_in_every_language
from bot.quizzes.banks import QuizItem, letter
from bot.quizzes.wording import normalise_wording

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    # Common Hindi / Hinglish number words officers type.
    "ek": 1,
    "do": 2,
    "teen": 3,
    "char": 4,
    "paanch": 5,
    "panch": 5,
    "das": 10,
    "pandrah": 15,
    "bees": 20,
    "tees": 30,
    "chalis": 40,
    "pachas": 50,
    "saath": 60,
    "एक": 1,
    "दो": 2,
    "तीन": 3,
    "चार": 4,
    "पांच": 5,
    "पाँच": 5,
    "दस": 10,
    "पंद्रह": 15,
    "बीस": 20,
    "तीस": 30,
    "चालीस": 40,
    "पचास": 50,
    "साठ": 60,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "lakh": 100_000, "crore": 10_000_000}
_TRUE = {
    "true",
    "t",
    "yes",
    "y",
    "haan",
    "han",
    "ha",
    "haa",
    "ji",
    "sahi",
    "sach",
    "correct",
    "right",
    "सही",
    "हाँ",
    "हां",
    "हा",
    "सत्य",
    "सच",
    "जी",
}
_FALSE = {
    "false",
    "f",
    "no",
    "n",
    "nahi",
    "nahin",
    "na",
    "galat",
    "jhooth",
    "wrong",
    "incorrect",
    "गलत",
    "ग़लत",
    "नहीं",
    "नही",
    "ना",
    "असत्य",
    "झूठ",
}
_SEPARATORS = re.compile(r"\s*(?:,|;|/|&|\+|\band\b|\baur\b|और)\s*")
_LETTER = re.compile(r"^(?:option\s+)?([a-z])$")


@dataclass(frozen=True)
class AnswerCheck:
    """Result of checking one response.

    Attributes:
        recognised: False when the response could not be read as an answer at all
            (e.g. ``"E"`` for a four-option question); nothing should be recorded then.
        correct: Whether the answer is right (always False when not recognised).
        chosen: The option texts the response was read as (choice items), for feedback.
    """

    recognised: bool
    correct: bool
    chosen: tuple[str, ...] = ()


def numbers_in(text: str) -> list[float]:
    """Numbers written in digits or words in ``text`` (normalised first).

    ``"thirty five days"`` -> ``[35.0]``; ``"30 din"`` -> ``[30.0]``; ``"२ lakh"`` -> ``[200000.0]``.

    Args:
        text: Any text.

    Returns:
        The numbers in order of appearance.
    """
    found: list[float] = []
    current: float | None = None
    for token in normalise_wording(text).replace("-", " ").split():
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            value: float | None = float(token)
        else:
            value = _UNITS.get(token, _TENS.get(token))
        if value is not None:
            if current is not None and current >= 20 and current % 10 == 0 and value < 10:
                current += value  # "thirty five"
            else:
                if current is not None:
                    found.append(current)
                current = float(value)
            continue
        if token in _SCALES and current is not None:
            current *= _SCALES[token]
            continue
        if current is not None:
            found.append(current)
            current = None
    if current is not None:
        found.append(current)
    return found


def _same_text(response: str, expected: str) -> bool:
    """Equal after normalisation, or the same numbers when the expected text has any."""
    a, b = normalise_wording(response), normalise_wording(expected)
    if a == b and a:
        return True
    expected_numbers = numbers_in(expected)
    return bool(expected_numbers) and numbers_in(response) == expected_numbers


def _option_index(response: str, options: tuple[str, ...]) -> int | None:
    """Read one response as one option: letter, exact text, or a uniquely matching number."""
    norm = normalise_wording(response)
    match = _LETTER.match(norm)
    if match:
        index = ord(match.group(1)) - ord("a")
        return index if index < len(options) else None
    exact = [i for i, o in enumerate(options) if normalise_wording(o) == norm]
    if exact:
        return exact[0]
    if numbers_in(response):
        same = [i for i, o in enumerate(options) if numbers_in(o) and _same_text(response, o)]
        if len(same) == 1:
            return same[0]
    # "1".."n" as a position, only where no option is itself numeric (else ambiguous).
    if re.fullmatch(r"\d+", norm) and not any(numbers_in(o) for o in options):
        position = int(norm)
        return position - 1 if 1 <= position <= len(options) else None
    return None


def _locale_words(*keys: str) -> set[str]:
    # The True/False button labels of every interface language and the locales' other words
    # for them, so a learner may type the label they see in a language added as a file.
    return {normalise_wording(word) for word in words_in_every_language(*keys)} - {""}


def _truth(response: str) -> bool | None:
    true_words = _TRUE | _locale_words("quiz_true", "quiz_true_words")
    false_words = _FALSE | _locale_words("quiz_false", "quiz_false_words")
    norm = normalise_wording(response)
    if norm in ("a", "option a"):
        return True
    if norm in ("b", "option b"):
        return False
    words = norm.split()
    if not words:
        return None
    if norm in true_words or words[0] in true_words and not any(w in false_words for w in words):
        return True
    if norm in false_words or words[0] in false_words and not any(w in true_words for w in words):
        return False
    return None


def _multiple(response: str | list[str], options: tuple[str, ...]) -> list[int] | None:
    parts = list(response) if isinstance(response, (list, tuple)) else _SEPARATORS.split(str(response))
    parts = [p for p in parts if normalise_wording(p)]
    # "AC" or "a c": several option letters in one part (unless it is an option's text).
    if len(parts) == 1 and _option_index(parts[0], options) is None:
        words = normalise_wording(parts[0]).split()
        letters = words if len(words) > 1 else list(words[0]) if words else []
        valid = {chr(ord("a") + i) for i in range(len(options))}
        if len(letters) > 1 and all(x in valid for x in letters):
            return sorted({ord(x) - ord("a") for x in letters})
    chosen = []
    for part in parts:
        index = _option_index(part, options)
        if index is None:
            return None
        chosen.append(index)
    return sorted(set(chosen)) or None


def _short(response: str, accepted: tuple[str, ...]) -> bool:
    norm = normalise_wording(response)
    for answer in accepted:
        if _same_text(response, answer):
            return True
        expected = normalise_wording(answer)
        # A full sentence containing the accepted phrase ("it is the first appellate
        # authority") counts, as long as it is not a long answer that merely mentions it.
        if len(expected) >= 3 and f" {expected} " in f" {norm} " and len(norm.split()) <= 3 * len(expected.split()) + 4:
            return True
    return False


def check_answer(item: QuizItem, response: str | list[str] | bool) -> AnswerCheck:
    """Check a learner's response to ``item``.

    Args:
        item: The question.
        response: What the learner sent: a letter (``"B"``), option text, free text,
            several letters/texts for multiple-answer items (``"A, C"`` or a list),
            or a bool for true/false.

    Returns:
        An :class:`AnswerCheck`.
    """
    if item.type == "true_false":
        value = response if isinstance(response, bool) else _truth(str(response))
        if value is None:
            return AnswerCheck(False, False)
        return AnswerCheck(True, value is item.answer, ("True" if value else "False",))
    if item.type == "single":
        index = _option_index(str(response), item.options)
        if index is None:
            return AnswerCheck(False, False)
        choice = item.options[index]
        return AnswerCheck(True, choice == item.answer, (choice,))
    if item.type == "multiple":
        indices = _multiple(response if isinstance(response, (list, tuple)) else str(response), item.options)
        if indices is None:
            return AnswerCheck(False, False)
        chosen = tuple(item.options[i] for i in indices)
        assert isinstance(item.answer, tuple)  # a multiple item's answer is a tuple (see QuizItem)
        return AnswerCheck(True, set(chosen) == set(item.answer), chosen)
    text = " ".join(response) if isinstance(response, (list, tuple)) else str(response)
    if not normalise_wording(text):
        return AnswerCheck(False, False)
    assert isinstance(item.answer, tuple)  # a short item's answer is its accepted answers (see QuizItem)
    return AnswerCheck(True, _short(text, item.answer), (text,))


def describe_choice(item: QuizItem, chosen: tuple[str, ...]) -> str:
    """Render chosen options with their letters, e.g. ``"B. 30 days"``."""
    if item.type in ("single", "multiple"):
        return ", ".join(f"{letter(item.options.index(c))}. {c}" for c in chosen)
    return ", ".join(chosen)


#: Words that open (or, in Hindi, sit inside) a question rather than an answer.
_QUESTION_OPENERS = frozenset(
    "what how why when where who whom whose which can could should would will is are am do does did may "
    "kya kaise kab kahan kahaan kyun kyon kaun kitna kitne kitni kis kisko".split()
)
_HINDI_QUESTION_WORDS = frozenset("क्या कैसे कब कहाँ कहां क्यों कौन कितना कितने कितनी किस किसे".split())
#: A typed reply to a short-answer item that the classifier did not read as an answer
#: counts as one only up to this many words (answers are short phrases; "I forgot my
#: iGOT password" is a request, not a wrong answer).
SHORT_ATTEMPT_MAX_WORDS = 3


def looks_like_question(text: str) -> bool:
    """Whether a message reads as a question (ends with "?", or opens/contains a question word).

    Args:
        text: A learner message.

    Returns:
        True for e.g. "how do I get my course certificate", "RTI fee kitna hai?".
    """
    stripped = str(text).strip()
    if stripped.endswith(("?", "？")):
        return True
    words = normalise_wording(stripped).split()
    if not words:
        return False
    return words[0] in _QUESTION_OPENERS or any(w in _HINDI_QUESTION_WORDS for w in words)


def reads_as_answer(item: QuizItem, response: str, *, marked_as_answer: bool) -> bool:
    """Whether a reply during a quiz is an answer to ``item`` or something else (a digression).

    Only what looks like an answer is taken as one: an option letter or text, true/false,
    or a short phrase for a short-answer item. Anything else (a question, a request, an
    emoji) is left for the dialogue to handle, and the item keeps waiting.

    Args:
        item: The question waiting for an answer.
        response: What the learner typed or pressed.
        marked_as_answer: The classifier (or a button) said it is an answer
            (intent ``answer_quiz`` or a ``quiz_answer`` entity).

    Returns:
        True to check and record it as an answer; False to treat it as a digression.
    """
    if marked_as_answer:
        return True
    check = check_answer(item, response)
    if not check.recognised:
        return False
    if check.correct or item.type in ("single", "multiple"):
        return True  # option letters and texts are read strictly already
    if looks_like_question(response):
        return False
    return item.type != "short" or len(normalise_wording(response).split()) <= SHORT_ATTEMPT_MAX_WORDS
