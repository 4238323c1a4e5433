"""The human loop's library: queue de-duplication, answers reaching askers, FAQ files,
live handoffs, office hours, feedback, analytics and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.handoff.analytics import all_tables
from bot.handoff.faq import faq_markdown, slugify
from bot.handoff.hours import IST, OfficeHours
from bot.handoff.similarity import EmbeddingSimilarity, LexicalSimilarity
from bot.knowledge.documents import load_document
from bot.store import session_scope
from bot.store.handoff_models import QueueAsker
from tests.unit.handoff_support import WEEKEND, FakePush, FakeTrainerChat, make_loop


def test_same_question_from_many_learners_is_one_item(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    a = loop.record_unanswered("web-1", "How do I claim children education allowance?", ["modules/a.md"], "socketio")
    b = loop.record_unanswered("tg-2", "how to claim the children education allowance", ["modules/b.md"], "rest")
    c = loop.record_unanswered("web-3", "What is the dress code for office?", [], "socketio")
    assert a == b != c
    item = loop.records.get_item(a)
    assert item.ask_count == 2 and item.sources == ["modules/a.md", "modules/b.md"]
    assert {x["sender"]: x["channel"] for x in item.askers} == {"web-1": "socketio", "tg-2": "telegram"}
    # The same learner asking again does not count twice.
    loop.record_unanswered("web-1", "How do I claim children education allowance?", [], "socketio")
    assert loop.records.get_item(a).ask_count == 2


def test_embedding_similarity_merges_paraphrases() -> None:
    vectors = {"q1": [1.0, 0.0], "q2": [0.95, 0.312], "q3": [0.0, 1.0]}
    sim = EmbeddingSimilarity(lambda texts: np.array([vectors[t] for t in texts]), threshold=0.9)
    scores = sim.scores("q1", ["q2", "q3"])
    assert scores[0] > 0.9 > scores[1]
    assert LexicalSimilarity().scores("a b c", []) == []


def test_answer_reaches_every_asker_and_writes_faq(tmp_path: Path) -> None:
    push = FakePush()
    loop, _ = make_loop(tmp_path, push=push)
    ref = loop.record_unanswered("tg-aaa", "Is yoga leave allowed?", [], "rest")
    loop.record_unanswered("web-bbb", "is yoga leave allowed", [], "socketio")
    result = loop.answer_item(ref, "Yes: up to **2 days** a year.", "meera", add_to_kb=True,
                              faq_question="Is yoga leave allowed?")
    assert result.delivered == ["tg-aaa"] and result.queued == ["web-bbb"]
    assert push.sent[0][0] == "tg-aaa" and "2 days" in push.sent[0][1]
    # The web learner gets it on their next turn, once.
    pending = loop.pending_for("web-bbb")
    assert len(pending) == 1 and "trainer answered" in pending[0] and "2 days" in pending[0]
    assert loop.pending_for("web-bbb") == []
    text = result.kb_path.read_text()
    assert result.kb_path.parent == tmp_path / "kb" / "faq"
    assert 'title: "FAQ: Is yoga leave allowed?"' in text and 'reviewed_by: "meera"' in text
    assert 'source: "trainer"' in text and 'date: "2026-11-25"' in text
    assert loop.records.get_item(ref).status == "answered"
    assert loop.records.get_item(ref).kb_path == f"faq/{result.kb_path.name}"


def test_failed_push_waits_in_the_outbox(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path, push=FakePush(ok=False))
    ref = loop.record_unanswered("tg-x", "Question never covered", [], "rest")
    result = loop.answer_item(ref, "An answer", "t1", add_to_kb=False)
    assert result.queued == ["tg-x"] and result.kb_path is None
    assert loop.pending_for("tg-x")


def test_faq_front_matter_cannot_be_broken_by_question_text(tmp_path: Path) -> None:
    question = 'Evil "title"\n---\nmodule: x: y'
    text = faq_markdown(question, "Fee\n===\n--- not front matter\n# not a heading", "t", datetime(2026, 1, 2).date())
    path = tmp_path / "faq" / "x.md"
    path.parent.mkdir()
    path.write_text(text)
    doc = load_document(path, tmp_path)
    assert doc.meta["title"] == 'FAQ: Evil "title" --- module: x: y'
    assert doc.meta["source"] == "trainer"
    assert [b.text for b in doc.blocks if b.level] == ['Evil "title" --- module: x: y']  # the question only
    assert slugify("क्या ? RTI / fee!!") == "क्या-rti-fee"


def test_live_handoff_in_hours_relays_and_ends(tmp_path: Path) -> None:
    chat = FakeTrainerChat()
    loop, _ = make_loop(tmp_path, chat=chat)
    request = loop.request_trainer("web-1", "Need help with APAR", "socketio")
    assert request.live and request.expect is None
    assert "live chat" in chat.posts[0] and f"/handoffs/{request.handoff_id}" in chat.posts[0]
    result = loop.relay("web-1", "hello, are you there?")
    assert result.active and result.pending == []
    assert loop.trainer_message(request.handoff_id, "Yes, <b>I am</b> here", "asha") is False  # web: waits
    result = loop.relay("web-1", "great")
    assert result.active and "I am" in result.pending[0]
    assert loop.end_by_trainer(request.handoff_id, "asha")
    result = loop.relay("web-1", "thanks")
    assert not result.active and result.ended_by_trainer
    assert any("closed the chat" in p for p in result.pending)
    transcript = loop.records.get_handoff(request.handoff_id)["messages"]
    assert [m["author"] for m in transcript] == ["learner", "trainer", "learner"]
    with pytest.raises(ValueError):
        loop.trainer_message(request.handoff_id, "too late", "asha")


def test_out_of_hours_is_queued_with_an_expected_time(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path, now=WEEKEND)
    request = loop.request_trainer("web-1", "Need help", "socketio")
    assert not request.live and request.handoff_id is None
    assert request.expect == datetime(2026, 11, 30, 9, 30, tzinfo=IST)  # Monday 09:30 IST
    assert loop.records.active_handoff("web-1") is None
    assert loop.records.list_items()[0].kind == "request"


def test_office_hours_parsing() -> None:
    hours = OfficeHours.parse("09:30-17:30", "mon-fri")
    assert hours.describe() == "Mon-Fri 09:30-17:30 IST"
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=IST)
    assert not hours.is_open(friday_evening)
    assert hours.next_open(friday_evening) == datetime(2026, 11, 30, 9, 30, tzinfo=IST)
    assert hours.is_open(datetime(2026, 11, 27, 9, 30, tzinfo=IST))
    with pytest.raises(ValueError):
        OfficeHours.parse("18:00-09:00", "mon")


def test_feedback_is_stored_and_thumbs_down_is_queued(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    assert loop.feedback("web-1", "socketio", "RTI fee?", ["modules/rti.md"], True) is None
    ref = loop.feedback("web-2", "socketio", "RTI fee?", ["modules/rti.md"], False)
    assert loop.records.get_item(ref).kind == "thumbs_down"
    loop.feedback("web-3", "socketio", "Leave rules?", ["modules/leave.md"], False)
    loop.record_answered("web-1", "RTI fee?", ["modules/rti.md"])
    tables = all_tables(loop.records.factory, days=3, now=loop.clock())
    worst = tables["worst_rated_sources"].rows
    assert worst[0][0] in ("modules/rti.md", "modules/leave.md") and worst[0][1] == 1
    assert {r[0]: r[1:] for r in worst}["modules/rti.md"] == [1, 1, 0.5]
    assert tables["questions_per_day"].rows[-1] == ["2026-11-25", 1, 0]


def test_quiz_item_statistics(tmp_path: Path) -> None:
    from bot.store import get_or_create_learner
    from bot.store.models import Attempt, QuizSession

    loop, clock = make_loop(tmp_path)
    now = clock()
    # Four learners; item "hard" is answered right only by the two strongest learners.
    answers = {"l1": {"easy": 1, "hard": 1, "mid": 1}, "l2": {"easy": 1, "hard": 1, "mid": 1},
               "l3": {"easy": 1, "hard": 0, "mid": 0}, "l4": {"easy": 0, "hard": 0, "mid": 0}}
    with session_scope(loop.records.factory) as s:
        for name, items in answers.items():
            learner = get_or_create_learner(s, "rest", name, now)
            s.flush()
            s.add(QuizSession(id=f"s-{name}", learner_id=learner.id, kind="quiz", scope={}, item_ids=list(items),
                              position=0, status="finished", started_at=now, updated_at=now))
            s.flush()  # no ORM relationship orders the inserts: the session row must exist first
            for n, (item, correct) in enumerate(items.items()):
                s.add(Attempt(learner_id=learner.id, session_id=f"s-{name}", item_id=item, attempt_no=1,
                              module="m", competencies=[], response="a", correct=bool(correct), skipped=False,
                              answered_at=now + timedelta(seconds=n)))
    rows = {r[0]: r for r in all_tables(loop.records.factory, now=now)["quiz_items"].rows}
    assert rows["easy"][3] == 0.75 and rows["hard"][3] == 0.5
    assert rows["hard"][4] > 0.8  # strong discrimination
    active = all_tables(loop.records.factory, now=now)["active_learners"].rows
    assert active[0][1] == 4


def test_erasure_removes_the_learner_everywhere_in_the_human_loop(tmp_path: Path) -> None:
    loop, _ = make_loop(tmp_path)
    shared = loop.record_unanswered("web-1", "shared question about leave", [], "socketio")
    loop.record_unanswered("web-2", "shared question about leave", [], "socketio")
    own = loop.record_unanswered("web-1", "a question only I asked about pensions", [], "socketio")
    loop.request_trainer("web-1", "help", "socketio")
    loop.relay("web-1", "hi")
    loop.feedback("web-1", "socketio", "q", ["s"], False)
    loop.records.enqueue("web-1", "socketio", "hello")
    counts = loop.records.erase_sender("web-1")
    assert counts["queue_askers"] >= 3 and counts["handoff_messages"] == 1
    assert loop.records.get_item(own) is None
    assert loop.records.get_item(shared).ask_count == 1
    with session_scope(loop.records.factory) as s:
        assert s.query(QueueAsker).filter_by(sender="web-1").count() == 0
    assert loop.pending_for("web-1") == []


def test_csv_export_defuses_formulas() -> None:
    from bot.handoff.analytics import Table

    csv_text = Table("t", ["q"], [["=HYPERLINK(\"x\")"], ["plain"]]).to_csv()
    assert "'=HYPERLINK" in csv_text and "plain" in csv_text


def test_telegram_learners_are_reached_through_the_shared_store_on_a_cluster() -> None:
    from types import SimpleNamespace

    from bot.handoff.delivery import QueuedTelegramProactive, TelegramProactive, telegram_sender

    def settings(token: str, store: str) -> SimpleNamespace:
        return SimpleNamespace(telegram_token=token, telegram_store_url=store, action_token="t")

    url = "http://127.0.0.1:5056/proactive"
    assert telegram_sender(settings("", "postgresql+psycopg://db/learners"), url) is None  # no bot at all
    one_machine = telegram_sender(settings("123:abc", "sqlite:////srv/telegram.db"), url)
    assert isinstance(one_machine, TelegramProactive) and one_machine.url == url
    cluster = telegram_sender(settings("123:abc", "postgresql+psycopg://db/learners"), url)
    assert isinstance(cluster, QueuedTelegramProactive) and cluster.store_url.startswith("postgresql")
    # A store that cannot be reached: the caller keeps the message (False), nothing raises.
    assert not QueuedTelegramProactive("postgresql+psycopg://nobody@127.0.0.1:9/none").push("tg-x", "hi")
