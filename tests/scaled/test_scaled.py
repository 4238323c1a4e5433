"""Scaled mode under faults: routing, continuity, timeouts, restarts, erasure, authentication.

One stack serves the whole module (two Rasa replicas take a minute to start); the tests
run in file order and the destructive ones (a Rasa replica killed) come last.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from scaled_support import APOLOGY, QUESTION, apologised, quiz_state, rest, routed, texts

pytestmark = [pytest.mark.scaled, pytest.mark.slow]

SENDERS = [f"scaled-user-{i}" for i in range(12)]


def test_unauthenticated_calls_refused(scaled_stack):
    s = scaled_stack
    for port in s.ports.action:
        assert httpx.post(f"http://127.0.0.1:{port}/webhook", json={"next_action": "action_answer_question"}).status_code == 401
    lb = httpx.post(f"http://127.0.0.1:{s.ports.action_lb}/webhook", json={"next_action": "x"},
                    headers={"Authorization": "Bearer wrong"})
    assert lb.status_code == 401
    # Rasa's HTTP API and anything but the webhook, socket.io and health: refused at the balancer.
    for path in ("/conversations/x/tracker", "/model", "/status", "/webhooks/rest/"):
        assert httpx.get(f"http://127.0.0.1:{s.ports.rasa_lb}{path}").status_code == 403, path
    with socket.create_connection(("127.0.0.1", s.ports.redis), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert b"NOAUTH" in sock.recv(200)
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"host=127.0.0.1 port={s.ports.postgres} dbname=rasa user=tutor password=guess connect_timeout=3")
    # The trainer console (on the shared PostgreSQL learner store) wants a login.
    console = httpx.get(f"http://127.0.0.1:{s.ports.console}/queue", follow_redirects=False)
    assert console.status_code in (302, 303, 401) and "Questions for trainers" not in console.text


def test_the_background_worker_runs_on_the_shared_learner_store(scaled_stack):
    """Onboarding, reminders and the retention purge run in scaled mode too (first pass at start)."""
    log = (scaled_stack.log_dir / "worker.log").read_text(errors="replace")
    assert scaled_stack.processes["worker"].poll() is None, log[-2000:]
    assert "retention purge" in log, log[-2000:]


def test_conversations_stick_to_one_replica_and_continue(scaled_stack):
    s = scaled_stack
    for sender in SENDERS:
        status, replies, _ = rest(s, sender, "hello")
        assert status == 200 and replies, sender
    for sender in SENDERS:
        status, replies, _ = rest(s, sender, "हिंदी में बात करो")
        assert status == 200
    # The language chosen in turn 2 is in the tracker (PostgreSQL) that turn 3 reads.
    status, replies, _ = rest(s, SENDERS[0], "thanks a lot")
    assert status == 200 and "स्वागत" in texts(replies)
    seen = routed(s)
    assert all(len(seen[sender]) == 1 for sender in SENDERS), seen
    assert set().union(*(seen[sender] for sender in SENDERS)) == {f"127.0.0.1:{p}" for p in s.ports.rasa}


def test_slow_action_server_gives_apology_within_seconds(scaled_stack):
    import signal

    s = scaled_stack
    for name in ("action-1", "action-2"):
        s.signal(name, signal.SIGSTOP)  # hung, not dead: only a timeout can notice
    try:
        status, replies, seconds = rest(s, "slow-learner", QUESTION)
    finally:
        for name in ("action-1", "action-2"):
            s.signal(name, signal.SIGCONT)
    assert status == 200
    assert APOLOGY in texts(replies)
    # One wait per hung replica (then nginx skips it), far below Rasa's own 300 s.
    assert seconds < s.action_timeout_s * 2 + 8, seconds
    time.sleep(11)  # nginx's fail_timeout (10 s): both replicas are tried again after it


def test_killed_action_server_other_replica_answers_then_apology(scaled_stack):
    import signal

    s = scaled_stack
    s.signal("action-1", signal.SIGKILL)
    s.processes["action-1"].wait(10)
    status, replies, _ = rest(s, "kill-learner", QUESTION)
    assert status == 200 and replies and APOLOGY not in texts(replies)  # action-2 answered
    s.signal("action-2", signal.SIGKILL)
    s.processes["action-2"].wait(10)
    status, replies, seconds = rest(s, "kill-learner", QUESTION)
    assert status == 200 and APOLOGY in texts(replies) and seconds < 5, (texts(replies), seconds)
    restart_action_servers(s)  # for the next tests (they load the index: ~half a minute)
    status, replies, _ = rest(s, "kill-learner", QUESTION)
    assert status == 200 and APOLOGY not in texts(replies)


def restart_action_servers(stack) -> None:
    """Start both action servers again and wait for their health checks (they load the index)."""
    from bot.runner import wait_http

    restarted = [stack.start_action_server(0), stack.start_action_server(1)]
    for port, process in zip(stack.ports.action, restarted, strict=True):
        wait_http(f"http://127.0.0.1:{port}/health", 180, process)
    # nginx skips a replica for fail_timeout (10 s) after it failed: wait until the balancer
    # reaches both again (consecutive health checks through it, round robin).
    ok, deadline = 0, time.monotonic() + 30
    while ok < 4 and time.monotonic() < deadline:
        try:
            up = httpx.get(f"http://127.0.0.1:{stack.ports.action_lb}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            up = False
        ok = ok + 1 if up else 0
        time.sleep(0.5 if up else 1)
    assert ok >= 4, "the action balancer does not reach the restarted action servers"


def test_action_servers_killed_mid_quiz_apology_and_no_half_written_state(scaled_stack):
    import signal
    import threading

    s = scaled_stack
    sender = "quiz-kill-learner"
    status, replies, _ = rest(s, sender, "/consent_accept")
    assert status == 200 and "progress will now be saved" in texts(replies), replies
    status, replies, _ = rest(s, sender, "/quiz_me")
    asked = [r for r in replies if r.get("buttons")]
    assert status == 200 and asked, replies
    answer = asked[-1]["buttons"][0]["payload"]  # e.g. /answer_quiz{"quiz_answer":"A"}
    before = quiz_state(s, sender)
    assert before[0] is not None and before[1:] == (0, "active", 0), before
    # Both action servers freeze with the answer's turn in flight, then die mid-turn.
    for name in ("action-1", "action-2"):
        s.signal(name, signal.SIGSTOP)
    result: list = []
    turn = threading.Thread(target=lambda: result.append(rest(s, sender, answer)))
    turn.start()
    time.sleep(1.5)  # the request now waits inside a frozen action server
    for name in ("action-1", "action-2"):
        s.signal(name, signal.SIGKILL)
        s.processes[name].wait(10)
    turn.join(60)
    status, replies, seconds = result[0]
    assert status == 200 and APOLOGY in texts(replies), replies
    assert seconds < 1.5 + s.action_timeout_s + 3, seconds  # a few seconds, not Rasa's 300 s
    assert quiz_state(s, sender) == before  # nothing half-written: same question, no attempt
    restart_action_servers(s)
    # The learner presses the same button again: the quiz resumes at the same question.
    status, replies, _ = rest(s, sender, answer)
    assert status == 200 and APOLOGY not in texts(replies) and replies, replies
    after = quiz_state(s, sender)
    assert after[0] == before[0] and after[1] == 1 and after[3] == 1, after
    assert any(r.get("buttons") for r in replies), replies  # feedback, then the next question


async def _traffic(stack, senders: list[str], stop: asyncio.Event, results: list) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(sender: str) -> None:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    resp = await client.post(f"http://127.0.0.1:{stack.ports.rasa_lb}/webhooks/rest/webhook",
                                             json={"sender": sender, "message": "hello"})
                    results.append((start, resp.status_code, time.monotonic() - start))
                except httpx.HTTPError:
                    results.append((start, 0, time.monotonic() - start))
                await asyncio.sleep(0.2)

        await asyncio.gather(*(one(x) for x in senders))


async def test_postgres_restart_under_traffic_errors_not_hangs_then_recovers(scaled_stack):
    """PostgreSQL (tracker + learner store) stops under traffic, then comes back.

    Rasa's fail-safe tracker store answers from a fresh in-memory tracker while the tracker
    database is down (logged as an error); a turn needing the learner store gets nginx's
    apology (the action failed with HTTP 500). Nothing hangs, and once PostgreSQL is back
    the same processes serve the conversations stored before the outage.
    """
    s = scaled_stack
    sender = "pg-learner"
    for text in ("/consent_accept", "हिंदी में बात करो"):
        status, _, _ = await asyncio.to_thread(rest, s, sender, text)
        assert status == 200
    stop, results = asyncio.Event(), []
    traffic = asyncio.create_task(_traffic(s, ["pg-a", "pg-b", "pg-c"], stop, results))
    await asyncio.sleep(2)
    await asyncio.to_thread(s.postgres.stop, "fast")
    try:
        status, replies, seconds = await asyncio.to_thread(rest, s, sender, "/quiz_me", 30)
        assert status == 200 and apologised(replies) and seconds < 15, (status, replies, seconds)
        await asyncio.sleep(2)  # more traffic meets the database that is down
    finally:
        restarted_at = time.monotonic()
        await asyncio.to_thread(s.postgres.start)
    await asyncio.sleep(8)
    stop.set()
    await traffic
    assert results and all(seconds < 20 for _, _, seconds in results), max(r[2] for r in results)  # no hangs
    logs = "".join(p.read_text(errors="replace") for p in s.log_dir.glob("rasa-*.log"))
    assert "Falling back to use the 'InMemoryTrackerStore'" in logs  # the outage is reported, not hidden
    late = [status for start, status, _ in results if start >= restarted_at + 4]
    assert late and late[-3:] == [200, 200, 200], late  # recovered without restarting any process
    # The state stored before the outage is read again: Hindi (tracker), consent (learner store).
    status, replies, _ = await asyncio.to_thread(rest, s, sender, "thanks a lot")
    assert status == 200 and "स्वागत" in texts(replies), replies
    status, replies, _ = await asyncio.to_thread(rest, s, sender, "/quiz_me")
    assert status == 200 and not apologised(replies) and any(r.get("buttons") for r in replies), replies


def test_redis_down_gives_clear_errors_then_recovers(scaled_stack):
    s = scaled_stack
    s.redis.stop()
    try:
        status, _, seconds = rest(s, "redis-learner", "hello", timeout=30)
        assert status >= 500 and seconds < 15, (status, seconds)
        logs = "".join(p.read_text(errors="replace") for p in s.log_dir.glob("rasa-*.log"))
        assert "redis" in logs.lower() and ("ConnectionError" in logs or "Connection refused" in logs)
    finally:
        s.redis.start()
    status, replies, _ = rest(s, "redis-learner", "hello")
    assert status == 200 and replies


def test_misconfigured_database_fails_start_up_loudly(scaled_stack, tmp_path):
    from bot.scaled.stack import PreflightError, ScaledStack

    env = scaled_stack.service_env()
    env["TRACKER_DB_PASSWORD"] = "not-the-password"
    broken = ScaledStack(root=tmp_path, ports=scaled_stack.ports, external=True, env=env)
    start = time.monotonic()
    with pytest.raises(PreflightError, match="tracker database.*password authentication failed"):
        broken.start()
    assert time.monotonic() - start < 15 and not broken.processes
    env = {**scaled_stack.service_env(), "DATABASE_URL": env["DATABASE_URL"].replace("/learners", "/nope")}
    with pytest.raises(PreflightError, match="learner database"):
        ScaledStack(root=tmp_path, ports=scaled_stack.ports, external=True, env=env).preflight()


async def test_erasure_leaves_zero_rows_in_every_store(scaled_stack, tmp_path):
    from sqlalchemy import func, select

    from bot.channels.bridge_state import BridgeState
    from bot.channels.proactive import ProactiveServer
    from bot.handoff.records import HandoffRecords
    from bot.privacy import count_tracker_events, erase_learner, tracker_db_url
    from bot.quizzes import QuizBank, Quizzes
    from bot.runner import free_port
    from bot.store.engine import session_factory, session_scope
    from bot.store.handoff_models import SENDER_TABLES
    from bot.store.models import Attempt, Learner, Mastery, QuizSession, ReviewState

    s = scaled_stack
    env = s.service_env()
    sender = "tg-erase-me-123"
    for text in ("hello", QUESTION):
        status, _, _ = await asyncio.to_thread(rest, s, sender, text)
        assert status == 200
    bank, _ = QuizBank.load(__import__("bot.config", fromlist=["x"]).load_settings().kb_dir / "quizzes")
    quizzes = Quizzes(env["DATABASE_URL"], bank, auto_migrate=False, seed=1)
    learner_id = quizzes.learner("telegram", sender, consent=True)
    if bank.items:
        question = quizzes.start_quiz(learner_id, n=1)
        quizzes.answer(learner_id, "a", item_id=question.item_id)
    handoff = HandoffRecords(session_factory(quizzes.engine))
    handoff.add_question("request", sender, "telegram", "who approves leave?")
    state = BridgeState(tmp_path / "telegram.db")
    state.remember_chat(sender, 424242)

    class Target:
        async def deliver_to(self, sender, replies):
            return []

        def forget(self, sender):
            return state.forget_chat(sender)

    port, token = free_port(), "bridge-token"
    server = ProactiveServer(Target(), token, port)
    await server.start()
    try:
        import os

        for key in ("TRACKER_DB_HOST", "TRACKER_DB_PORT", "TRACKER_DB_NAME", "TRACKER_DB_USER", "TRACKER_DB_PASSWORD"):
            os.environ[key] = env[key]
        url = tracker_db_url()
        assert count_tracker_events(url, sender) > 0
        async with httpx.AsyncClient() as client:  # the bridge refuses callers without its token
            assert (await client.post(f"http://127.0.0.1:{port}/forget", json={"sender": sender})).status_code == 401
        report = await asyncio.to_thread(erase_learner, quizzes, "telegram", sender, tracker_url=url,
                                         bridge_port=port, bridge_token=token)
    finally:
        await server.stop()
        for key in ("TRACKER_DB_HOST", "TRACKER_DB_PORT", "TRACKER_DB_NAME", "TRACKER_DB_USER", "TRACKER_DB_PASSWORD"):
            os.environ.pop(key, None)
    assert report.complete, report.errors
    assert report.removed["tracker_events"] > 0 and report.removed["telegram_mapping"] == 1
    assert count_tracker_events(url, sender) == 0
    with session_scope(session_factory(quizzes.engine)) as db:
        assert db.scalar(select(func.count()).select_from(Learner).where(Learner.external_id == sender)) == 0
        for table in (Attempt, ReviewState, Mastery, QuizSession):
            assert db.scalar(select(func.count()).select_from(table).where(table.learner_id == learner_id)) == 0
        for table in SENDER_TABLES:
            assert db.scalar(select(func.count()).select_from(table).where(table.sender == sender)) == 0
    assert state.chat_for(sender) is None


def test_one_rasa_replica_killed_the_other_carries_on(scaled_stack):
    import signal

    s = scaled_stack
    victim = next(iter(routed(s)[SENDERS[0]]))
    name = f"rasa-{s.ports.rasa.index(int(victim.rsplit(':', 1)[1])) + 1}"
    s.signal(name, signal.SIGKILL)
    s.processes[name].wait(10)
    # SENDERS[0] chose Hindi earlier on the killed replica; the survivor reads it from PostgreSQL.
    status, replies, _ = rest(s, SENDERS[0], "thanks a lot")
    assert status == 200 and "स्वागत" in texts(replies)
    for sender in SENDERS:
        status, replies, _ = rest(s, sender, "hello")
        assert status == 200 and replies, sender
