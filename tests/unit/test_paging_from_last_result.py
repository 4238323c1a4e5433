""""Show more" and "Full passage" page from the last question's result instead of searching again.

Tracker snapshots through the real actions, a real index (fake embedder) and a retriever
that counts its searches. Every page must be exactly what a fresh search would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.knowledge import ActionAnswerQuestion, ActionShowFullPassage, ActionShowMore
from bot.knowledge.gate import Gate
from bot.knowledge.index import update_index
from bot.knowledge.recent import RecentResults
from bot.knowledge.search import Retriever
from tests.conftest import FakeEmbedder
from tests.unit.test_actions_knowledge import load_tracker, run


class CountingRetriever(Retriever):
    """The real retriever, counting the searches it runs."""

    searches = 0

    def search(self, *args, **kwargs):
        self.searches += 1
        return super().search(*args, **kwargs)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'learners.db'}")


@pytest.fixture
def retriever(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> CountingRetriever:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return CountingRetriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)


async def _pages(retriever: Retriever, recent: RecentResults) -> list[str]:
    """Answer, show more, full passage, show more again: the texts shown."""
    texts = []
    messages, _ = await run(ActionAnswerQuestion(retriever, recent), load_tracker("ask_rti_fee.json"))
    texts.append(messages[0]["text"])
    messages, _ = await run(ActionShowMore(retriever, recent), load_tracker("after_answer.json"))
    texts.append(messages[0]["text"])
    messages, _ = await run(ActionShowFullPassage(retriever, recent), load_tracker("after_answer.json", answer_rank=1.0))
    texts.append(messages[0]["text"])
    messages, _ = await run(ActionShowMore(retriever, recent), load_tracker("after_answer.json", answer_rank=1.0))
    texts.append(messages[0]["text"])
    return texts


async def test_paging_runs_no_search_and_shows_what_a_fresh_search_would(retriever: CountingRetriever) -> None:
    pages = await _pages(retriever, RecentResults())
    assert retriever.searches == 1  # the question only
    assert pages[1].startswith("Here is the next passage I found:")

    class Forgetful(RecentResults):
        """Keeps nothing: every page searches again, as before the cache."""

        def put(self, *args, **kwargs) -> None:
            return None

    retriever.searches = 0
    assert await _pages(retriever, Forgetful()) == pages
    assert retriever.searches == 4


async def test_another_question_in_the_slot_searches_again(retriever: CountingRetriever) -> None:
    recent = RecentResults()
    await run(ActionAnswerQuestion(retriever, recent), load_tracker("ask_rti_fee.json"))
    tracker = load_tracker("after_answer.json", last_query="how many days of casual leave")
    messages, _ = await run(ActionShowMore(retriever, recent), tracker)
    assert retriever.searches == 2
    fresh, _ = await run(ActionShowMore(retriever, RecentResults()), tracker)
    assert messages == fresh and "RTI" not in messages[0]["text"]


async def test_another_conversation_or_role_searches_again(retriever: CountingRetriever) -> None:
    recent = RecentResults()
    await run(ActionAnswerQuestion(retriever, recent), load_tracker("ask_rti_fee.json"))
    other = load_tracker("after_answer.json")
    other.sender_id = "learner-2"
    await run(ActionShowMore(retriever, recent), other)
    assert retriever.searches == 2
    await run(ActionShowMore(retriever, recent), load_tracker("after_answer.json", role="public-information-officer"))
    assert retriever.searches == 3


async def test_a_new_index_version_searches_again_and_shows_the_new_text(
        retriever: CountingRetriever, kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    recent = RecentResults()
    await run(ActionAnswerQuestion(retriever, recent), load_tracker("ask_rti_fee.json"))
    rti = kb_dir / "modules" / "rti.md"
    rti.write_text(rti.read_text().replace("pay no fee", "pay no fee at all"))
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    messages, _ = await run(ActionShowFullPassage(retriever, recent), load_tracker("after_answer.json"))
    assert retriever.searches == 2
    assert "pay no fee at all." in messages[0]["text"]


async def test_a_missing_index_while_paging_is_an_apology(tmp_path: Path) -> None:
    empty = Retriever(tmp_path / "no-index", {"fake": FakeEmbedder()})
    messages, events = await run(ActionShowMore(empty, RecentResults()), load_tracker("after_answer.json"))
    assert "cannot search it right now" in messages[0]["text"] and events == []


def test_entries_expire_are_bounded_and_can_be_forgotten(retriever: CountingRetriever) -> None:
    now = [0.0]
    recent = RecentResults(capacity=2, ttl_s=60, clock=lambda: now[0])
    index = retriever.index
    result = retriever.search("What fee does an RTI applicant pay?")
    for learner in ("a", "b"):
        recent.put(learner, None, index, result)
    assert recent.get("a", result.query, None, index) is result
    recent.put("c", None, index, result)  # evicts "b", the least recently used
    assert recent.get("b", result.query, None, index) is None and len(recent) == 2
    recent.forget("a")
    assert recent.get("a", result.query, None, index) is None
    now[0] = 61.0
    assert recent.get("c", result.query, None, index) is None and len(recent) == 0
