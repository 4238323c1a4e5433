"""Helpers for the human-loop unit tests: a HumanLoop on a temporary SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.handoff.hours import OfficeHours
from bot.handoff.records import HandoffRecords
from bot.handoff.service import HumanLoop
from bot.handoff.similarity import LexicalSimilarity
from bot.store import make_engine, migrate, session_factory

#: A Wednesday, 11:00 IST (05:30 UTC): inside default office hours.
IN_HOURS = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)
#: A Saturday, 11:00 IST: outside.
WEEKEND = datetime(2026, 11, 28, 5, 30, tzinfo=UTC)


class FakePush:
    """Records pushes; ``ok`` decides whether they succeed."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[tuple[str, str]] = []

    def push(self, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> bool:
        self.sent.append((sender, text))
        return self.ok


class FakeTrainerChat:
    """Collects notices to the trainers' chat."""

    def __init__(self) -> None:
        self.posts: list[str] = []

    def post(self, text: str) -> bool:
        self.posts.append(text)
        return True


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_loop(tmp_path: Path, now: datetime = IN_HOURS, push: FakePush | None = None,
              chat: FakeTrainerChat | None = None) -> tuple[HumanLoop, Clock]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hl.db'}")
    migrate(engine)
    clock = Clock(now)
    records = HandoffRecords(session_factory(engine), LexicalSimilarity(0.5), clock)
    loop = HumanLoop(records, tmp_path / "kb", OfficeHours.parse("09:30-17:30", "mon-fri"), push, chat,
                     "http://console.test", clock)
    return loop, clock
