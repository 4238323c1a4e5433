"""The process-wide services (bot.wiring): one instance each, built lazily, shared embedders."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionRequestTrainer
from bot import wiring
from bot.knowledge.gate import Gate
from bot.knowledge.index import current_version_dir, update_index
from bot.knowledge.search import Retriever
from tests.conftest import FakeEmbedder, write


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'learners.db'}")
    monkeypatch.setenv("TUTOR_KB_DIR", str(tmp_path / "kb"))
    monkeypatch.setenv("TUTOR_INDEX_DIR", str(tmp_path / "idx"))


@pytest.fixture
def retriever(kb_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Retriever:
    update_index(kb_dir, tmp_path / "idx", [fake_embedder])
    return Retriever(tmp_path / "idx", {"fake": fake_embedder}, Gate({"fake": 0.3}), check_interval=0)


def test_each_service_is_built_once_even_when_threads_race() -> None:
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(wiring.get_human_loop())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(loop is got[0] for loop in got)
    assert wiring.get_plans().quizzes is wiring.get_quizzes()
    assert wiring.get_retriever() is wiring.get_retriever()


def test_reset_builds_afresh_from_the_new_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = wiring.get_quizzes()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert wiring.get_quizzes() is first  # shared until reset
    wiring.reset()
    second = wiring.get_quizzes()
    assert second is not first and str(second.engine.url).endswith("other.db")
    assert wiring.get_plans().quizzes is second


def test_a_default_action_uses_the_overridden_service(tmp_path: Path) -> None:
    from tests.unit.handoff_support import make_loop

    loop, _clock = make_loop(tmp_path)
    wiring.override(human_loop=loop)
    tracker = Tracker.from_dict({"sender_id": "web-7", "slots": {"last_query": "Is yoga leave allowed?"},
                                 "latest_message": {"text": "talk to a trainer"}, "events": [],
                                 "latest_input_channel": "socketio"})
    dispatcher = CollectingDispatcher()
    import asyncio

    asyncio.run(ActionRequestTrainer().run(dispatcher, tracker, {}))  # no arguments, as rasa_sdk builds it
    assert [item.question for item in loop.records.list_items()] == ["Is yoga leave allowed?"]


def test_overriding_the_quizzes_drops_the_plans_built_over_the_old_ones(tmp_path: Path) -> None:
    from bot.quizzes import QuizBank, Quizzes

    old_plans = wiring.get_plans()
    mine = Quizzes(f"sqlite:///{tmp_path / 'mine.db'}", QuizBank([]))
    wiring.override(quizzes=mine)
    assert wiring.get_quizzes() is mine
    assert wiring.get_plans() is not old_plans and wiring.get_plans().quizzes is mine


def test_queue_deduplication_embeds_with_the_retrievers_embedder(retriever: Retriever, fake_embedder: FakeEmbedder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_DEDUP_EMBEDDER", "fake")  # only the retriever knows an embedder of that name
    wiring.override(retriever=retriever)
    embedded: list[str] = []
    embed_queries = fake_embedder.embed_queries
    monkeypatch.setattr(fake_embedder, "embed_queries", lambda texts: embedded.extend(texts) or embed_queries(texts))
    loop = wiring.get_human_loop()
    first = loop.record_unanswered("web-1", "Can I take yoga leave?", [], "socketio")
    second = loop.record_unanswered("web-2", "can i take yoga leave", [], "socketio")
    assert first == second  # one queue item for both askers
    assert "can i take yoga leave" in embedded  # by the retriever's instance, not a second model


def test_the_watcher_indexes_with_the_retrievers_embedders(retriever: Retriever, fake_embedder: FakeEmbedder,
                                                           kb_dir: Path, tmp_path: Path) -> None:
    wiring.override(retriever=retriever)
    watcher = wiring.knowledge_watcher(kb_dir, tmp_path / "idx", "fake")
    assert watcher.embedders == [fake_embedder]
    before = current_version_dir(tmp_path / "idx")
    write(kb_dir / "modules" / "tour.md", "---\ntitle: Tour rules\nmodule: tour\n---\n# Tour\n\n"
          "## 1. Daily allowance\nAn officer on tour draws a daily allowance for each day away.\n")
    embedded = fake_embedder.embedded
    report = watcher.update_now()
    assert report is not None and report.added == ["modules/tour.md"]
    assert fake_embedder.embedded > embedded and current_version_dir(tmp_path / "idx") != before
    assert "daily allowance" in retriever.search("daily allowance on tour").hits[0].chunk.text
    with pytest.raises(ValueError):
        wiring.knowledge_watcher(kb_dir, tmp_path / "idx", " , ")
