"""Rasa replica failover, repeated: no learner loses the chosen language or a quiz in progress.

The defect this guards (issue #19): after PostgreSQL restarted, a Rasa replica whose pooled
tracker-store connections were dead read "no conversation" on its next turn, answered from
a blank English session and saved it over the stored one. The survivor of a killed replica
showed it when it had served nobody since the restart. Each round here restarts PostgreSQL
(stale pools in both replicas), kills one Rasa replica, and every learner - those of the
killed replica on the survivor - answers the next question of their quiz. The victim
alternates and is started again for the next round. A Rasa replica takes minutes to load
its model on a busy 2-core machine, so the repetition comes from learners: by default 2
rounds (each replica killed once) x 20 learners, i.e. about 20 conversations fail over per
run, every one on its first turn after a database restart. ``TUTOR_FAILOVER_ROUNDS`` (at
most 4: a quiz has 5 questions) and ``TUTOR_FAILOVER_LEARNERS`` size the run.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from scaled_support import answered_by, apologised, quiz_state, rest, routed, texts

pytestmark = [pytest.mark.scaled, pytest.mark.slow]

ROUNDS = min(int(os.environ.get("TUTOR_FAILOVER_ROUNDS", "2")), 4)  # the 5th answer would end the quiz
LEARNERS = [f"failover-learner-{i}" for i in range(int(os.environ.get("TUTOR_FAILOVER_LEARNERS", "20")))]
HINDI_SKIP = "छोड़ें"  # the quiz's "Skip" button in Hindi (bot/locales/hi.yml)


def _question_buttons(replies: list[dict]) -> list[dict]:
    asked = [r for r in replies if r.get("buttons")]
    return asked[-1]["buttons"] if asked else []


def _in_hindi(buttons: list[dict]) -> bool:
    return any(b.get("title") == HINDI_SKIP for b in buttons)


def _restart_rasa(stack, index: int) -> None:
    """Start a killed Rasa replica again and wait until the balancer sends to it."""
    from bot.runner import wait_http

    process = stack.start_rasa(index)
    wait_http(f"http://127.0.0.1:{stack.ports.rasa[index]}/", 600, process)
    time.sleep(11)  # nginx skips a failed upstream for fail_timeout (10 s)


def test_every_failover_keeps_the_language_and_the_quiz(scaled_stack):
    s = scaled_stack
    buttons: dict[str, list[dict]] = {}
    for sender in LEARNERS:  # consent, Hindi chosen, a quiz started - each on its own replica
        for text in ("/consent_accept", "हिंदी में बात करो", "/quiz_me"):
            status, replies, _ = rest(s, sender, text)
            assert status == 200 and not apologised(replies), (sender, text, texts(replies))
        buttons[sender] = _question_buttons(replies)
        assert _in_hindi(buttons[sender]), replies
    home = routed(s)
    replicas = [f"127.0.0.1:{p}" for p in s.ports.rasa]
    on = {r: [x for x in LEARNERS if home[x] == {r}] for r in replicas}
    assert all(on.values()), on  # both replicas hold learners, each learner one replica

    failed_over = 0
    for number in range(ROUNDS):
        victim = number % len(replicas)
        name = f"rasa-{victim + 1}"
        s.postgres.restart()  # every pooled connection of both replicas is now dead
        s.signal(name, signal.SIGKILL)
        s.processes[name].wait(10)
        for sender in LEARNERS:
            before = quiz_state(s, sender)
            answer = buttons[sender][0]["payload"]  # e.g. /answer_quiz{"quiz_answer":"A"}
            status, replies, _ = rest(s, sender, answer)
            where = f"round {number + 1}, {sender}, {'moved' if sender in on[replicas[victim]] else 'stayed'}"
            assert status == 200 and not apologised(replies), (where, status, texts(replies))
            buttons[sender] = _question_buttons(replies)
            # The next question, still in Hindi: the tracker (language, quiz item) was read, not reset.
            assert _in_hindi(buttons[sender]), (where, replies)
            after = quiz_state(s, sender)
            assert after[0] == before[0] and after[1:] == (before[1] + 1, "active", before[3] + 1), (where, before, after)
        served = answered_by(s)  # the moved conversations really were answered by the survivor
        survivor = replicas[(victim + 1) % len(replicas)]
        assert all(served[x][-1] == survivor for x in on[replicas[victim]]), served
        failed_over += len(on[replicas[victim]])
        _restart_rasa(s, victim)
    assert failed_over >= ROUNDS  # conversations that moved to the survivor (about half per round)
    print(f"{ROUNDS} rounds, {failed_over} conversations failed over")
