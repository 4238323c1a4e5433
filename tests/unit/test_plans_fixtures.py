"""Shared fixtures and helpers of the plans and onboarding tests (no tests here).

The other ``test_plans*`` / ``test_onboarding*`` modules import from this one, the same
way the quiz tests import ``quiz_support``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quiz_support import START, FakeClock, make_quizzes
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.plans.onboarding import LessonChunk
from bot.plans.service import Plans
from bot.quizzes import QuizBank, Quizzes

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "knowledge_base"
TEST_BANKS = ROOT / "tests" / "data" / "quizzes"

__all__ = ["KB", "ROOT", "START", "TEST_BANKS", "FakeClock", "chunk", "clock", "kb_quizzes", "plans",
           "real_chunks", "run_action", "tracker", "write"]


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def chunk(module: str, anchor: str, text: str, position: int = 0, source: str | None = None) -> LessonChunk:
    """A lesson chunk as the live index would give it."""
    source = source or f"modules/{module}.md"
    title = module.replace("-", " ").title()
    return LessonChunk(module, source, title, anchor, text, f"{title} — {anchor}", position)


def real_chunks() -> list[LessonChunk]:
    """One chunk per section of the real modules (headings and their first paragraph).

    Read straight from the Markdown so the tests need no index; the live path
    (``chunks_from_index``) is tested separately.
    """
    out: list[LessonChunk] = []
    for path in sorted((KB / "modules").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        meta_end = text.index("\n---", 3)
        meta = dict(line.split(":", 1) for line in text[4:meta_end].splitlines() if ":" in line)
        module = meta["module"].strip()
        title = meta["title"].strip().strip('"')
        if "superseded_by" in meta:
            continue
        for position, block in enumerate(text[meta_end + 4:].split("\n## ")[1:]):
            heading, _, body = block.partition("\n")
            paragraph = next((p.strip() for p in body.split("\n\n") if p.strip() and not p.startswith("#")), "")
            out.append(LessonChunk(module, f"modules/{path.name}", title, heading.strip(), paragraph,
                                   f"{title} — {heading.strip()}", position))
    return out


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def kb_quizzes(tmp_path: Path, clock: FakeClock) -> Iterator[Quizzes]:
    """Quizzes over the real quiz banks, a temp SQLite store and a fake clock."""
    bank, problems = QuizBank.load(KB / "quizzes", base=KB)
    assert problems == []
    service = make_quizzes(f"sqlite:///{tmp_path / 'state' / 'learners.db'}", bank, clock)
    yield service
    service.engine.dispose()


@pytest.fixture
def plans(kb_quizzes: Quizzes) -> Plans:
    """Plans over the real role model, with lesson material read from the real modules."""
    material = real_chunks()
    return Plans(kb_quizzes, KB, chunks=lambda: material)


def tracker(sender: str = "web-learner-1", *, text: str = "", intent: str = "", entities: list | None = None,
            slots: dict[str, Any] | None = None, channel: str = "socketio") -> Tracker:
    """A tracker snapshot like the one Rasa sends to the action server."""
    state = {
        "sender_id": sender,
        "slots": {"language": "en", "language_chosen": False, "role": None, "quiz_active": False,
                  "quiz_item_id": None, "role_candidates": None, "profile_role": None,
                  "profile_department": None, "profile_language": None, **(slots or {})},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0},
                           "entities": entities or []},
        "events": [{"event": "user", "text": text, "input_channel": channel,
                    "parse_data": {"intent": {"name": intent}, "entities": entities or []}}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
        "latest_input_channel": channel,
    }
    return Tracker.from_dict(json.loads(json.dumps(state)))


async def run_action(action: Any, state: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    """Run an action; return the messages it sent and its events."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, state, {})
    return dispatcher.messages, events
