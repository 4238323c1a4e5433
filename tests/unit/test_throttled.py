"""bot.throttled: folder checks reused for a second, so a message does not re-scan folders."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bot import wiring
from bot.throttled import Throttled

QUIZ_DATA = Path(__file__).resolve().parents[1] / "data" / "quizzes"
KB = Path(__file__).resolve().parents[2] / "knowledge_base"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_value_is_reused_until_the_interval_passes() -> None:
    clock, calls = Clock(), []
    value = Throttled(lambda: calls.append(clock.now) or len(calls), interval_s=1.0, clock=clock)
    assert [value.get(), value.get()] == [1, 1]
    clock.now += 0.99
    assert value.get() == 1
    clock.now += 0.02
    assert value.get() == 2 and len(calls) == 2


def test_expire_and_a_zero_interval_recompute() -> None:
    clock, calls = Clock(), []
    value = Throttled(lambda: calls.append(1) or len(calls), interval_s=1.0, clock=clock)
    value.get()
    value.expire()
    assert value.get() == 2
    always = Throttled(lambda: calls.append(1) or len(calls), interval_s=0, clock=clock)
    assert always.get() != always.get()


def test_a_trainers_new_quiz_file_is_served_within_a_second(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'learners.db'}")
    monkeypatch.setenv("TUTOR_KB_DIR", str(tmp_path / "kb"))
    files = sorted(QUIZ_DATA.glob("*.yml"))
    (tmp_path / "kb" / "quizzes").mkdir(parents=True)
    shutil.copy(files[0], tmp_path / "kb" / "quizzes")
    wiring.reset()
    try:
        before = len(wiring.get_quizzes().bank.items)
        shutil.copy(files[1], tmp_path / "kb" / "quizzes")
        deadline = time.monotonic() + 3
        while len(wiring.get_quizzes().bank.items) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(wiring.get_quizzes().bank.items) > before
        assert time.monotonic() < deadline - 1.5  # within about a second, not at the 3 s deadline
    finally:
        wiring.reset()


def test_plans_see_a_role_edit_once_the_recheck_interval_passed(tmp_path: Path) -> None:
    from bot.plans.service import Plans
    from bot.quizzes import QuizBank, Quizzes

    kb = tmp_path / "kb"
    shutil.copytree(KB / "roles", kb / "roles")
    shutil.copytree(KB / "modules", kb / "modules")
    shutil.copytree(KB / "quizzes", kb / "quizzes")
    quizzes = Quizzes(f"sqlite:///{tmp_path / 'learners.db'}", QuizBank([]))
    plans = Plans(quizzes, kb, chunks=list, recheck_s=2.0)
    first = plans.roles
    assert len(first) > 1
    (kb / "roles" / "under-secretary.yml").unlink()
    assert plans.roles is first  # within the interval: the folder is not looked at again
    time.sleep(2.05)
    assert plans.roles is not first and len(plans.roles) == len(first) - 1
    quizzes.engine.dispose()
