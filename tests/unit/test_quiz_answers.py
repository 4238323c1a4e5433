"""Answer checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.quizzes import QuizBank, check_answer, normalise_wording, numbers_in

DATA = Path(__file__).resolve().parents[1] / "data" / "quizzes"
BANK, _ = QuizBank.load(DATA)


@pytest.mark.parametrize(
    ("item_id", "response", "correct"),
    [
        ("rti-001", "B", True),
        ("rti-001", "b)", True),
        ("rti-001", "(B)", True),
        ("rti-001", "option b", True),
        ("rti-001", "30 days", True),
        ("rti-001", "  30   DAYS!! ", True),
        ("rti-001", "30", True),
        ("rti-001", "thirty", True),
        ("rti-001", "३०", True),
        ("rti-001", "३० दिन", True),
        ("rti-001", "A", False),
        ("rti-001", "15", False),
        ("rti-001", "fifteen days", False),
        ("rti-002", "true", True),
        ("rti-002", "Yes", True),
        ("rti-002", "haan", True),
        ("rti-002", "सही", True),
        ("rti-002", "A", True),
        ("rti-002", "false", False),
        ("rti-002", "nahi", False),
        ("rti-002", "गलत", False),
        ("eth-002", "no", True),
        ("eth-002", "नहीं", True),
        ("rti-003", "A, C", True),
        ("rti-003", "c,a", True),
        ("rti-003", "AC", True),
        ("rti-003", "a and c", True),
        ("rti-003", "Application fee, cost of copies", True),
        ("rti-003", "A", False),
        ("rti-003", "A, B, C", False),
        ("rti-004", "FAA", True),
        ("rti-004", "first appellate authority", True),
        ("rti-004", "It goes to the First Appellate Authority.", True),
        ("rti-004", "the PIO", False),
        ("eth-001", "5000", True),
        ("eth-001", "Rs. 5,000", True),
        ("eth-001", "1000", False),
    ],
)
def test_check_answer(item_id: str, response: str, correct: bool) -> None:
    result = check_answer(BANK.by_id[item_id], response)
    assert result.recognised
    assert result.correct is correct


@pytest.mark.parametrize(
    ("item_id", "response"),
    [("rti-001", "E"), ("rti-001", "?"), ("rti-002", "perhaps"), ("rti-003", "A, Z"), ("rti-004", "  ...  ")],
)
def test_unreadable_replies_are_not_recognised(item_id: str, response: str) -> None:
    result = check_answer(BANK.by_id[item_id], response)
    assert not result.recognised and not result.correct


def test_list_and_bool_responses() -> None:
    assert check_answer(BANK.by_id["rti-003"], ["Cost of copies", "Application fee"]).correct
    assert check_answer(BANK.by_id["rti-002"], True).correct
    assert not check_answer(BANK.by_id["eth-002"], True).correct


def test_normalise_and_numbers() -> None:
    assert normalise_wording("  Hello,   World! ") == "hello world"
    assert normalise_wording("धारा ७(१)।") == "धारा 7 1"
    assert numbers_in("thirty-five days") == [35.0]
    assert numbers_in("2 lakh and 1,00,000") == [200000.0, 100000.0]
    assert numbers_in("Rs 2.5 crore") == [25_000_000.0]
