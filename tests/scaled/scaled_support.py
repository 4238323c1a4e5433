"""Helpers shared by the scaled-mode test modules: REST turns through the balancer,
which replica served whom (nginx's access log), and a learner's quiz in the learner store."""

from __future__ import annotations

import time
from collections import defaultdict

import httpx

APOLOGY = "could not finish that just now"
APOLOGY_HI = "अभी यह पूरा नहीं हो सका"


def apologised(replies: list[dict]) -> bool:
    """True when the replies include nginx's apology (English or Hindi)."""
    said = " ".join(r.get("text") or "" for r in replies)
    return APOLOGY in said or APOLOGY_HI in said


QUESTION = "what is the fee for an RTI application?"


def rest(stack, sender: str, text: str, timeout: float = 40) -> tuple[int, list[dict], float]:
    """One REST turn through the nginx Rasa balancer: (status, replies, seconds)."""
    start = time.monotonic()
    try:
        resp = httpx.post(f"http://127.0.0.1:{stack.ports.rasa_lb}/webhooks/rest/webhook",
                          json={"sender": sender, "message": text}, timeout=timeout)
    except httpx.HTTPError:
        return 0, [], time.monotonic() - start
    replies = resp.json() if resp.status_code == 200 else []
    return resp.status_code, replies, time.monotonic() - start


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def routed(stack) -> dict[str, set[str]]:
    """sender -> Rasa replicas that served it, from nginx's access log (tests log the key)."""
    seen: dict[str, set[str]] = defaultdict(set)
    rasa = {f"127.0.0.1:{p}" for p in stack.ports.rasa}
    for line in (stack.root / "nginx" / "access.log").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 9 and "/webhooks/rest/webhook" in line and parts[4] in rasa and parts[2] == "200":
            seen[parts[-1]].add(parts[4])
    return seen



def quiz_state(stack, sender: str) -> tuple[str | None, int, str | None, int]:
    """(quiz session id, position, status, attempts) of a REST learner, from the learner store."""
    import psycopg

    with psycopg.connect(stack.service_env()["DATABASE_URL"].replace("postgresql+psycopg", "postgresql"),
                         connect_timeout=5) as conn:
        row = conn.execute("SELECT q.id, q.position, q.status, (SELECT count(*) FROM attempts a WHERE a.session_id = q.id)"
                           " FROM quiz_sessions q JOIN learners l ON l.id = q.learner_id"
                           " WHERE l.external_id = %s ORDER BY q.started_at DESC LIMIT 1", (sender,)).fetchone()
    return tuple(row) if row else (None, 0, None, 0)



def answered_by(stack) -> dict[str, list[str]]:
    """sender -> the Rasa replica that answered each of its REST turns, oldest first.

    From nginx's access log: a turn that nginx retried on another replica (the first one was
    down) lists both upstreams, and the last one answered.
    """
    seen: dict[str, list[str]] = defaultdict(list)
    rasa = {f"127.0.0.1:{p}" for p in stack.ports.rasa}
    for line in (stack.root / "nginx" / "access.log").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 9 and "/webhooks/rest/webhook" in line and parts[2] == "200":
            tried = [p.rstrip(",") for p in parts if p.rstrip(",") in rasa]
            if tried:
                seen[parts[-1]].append(tried[-1])
    return seen
