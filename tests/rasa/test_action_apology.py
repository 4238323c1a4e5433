"""rasa_plugins.action_apology in the Rasa environment: Rasa's real RemoteAction calling a
closed port, a hung server and a server that answers, with the project's domain.

Run by ``make test-rasa`` (``.venv-rasa/bin/python -m pytest --noconftest tests/rasa``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from rasa_plugins import action_apology

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
ENGLISH = "Sorry, I could not finish that just now"
HINDI = "क्षमा करें, अभी यह पूरा नहीं हो सका"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tracker(language: str | None = None) -> DialogueStateTracker:
    t = DialogueStateTracker.from_events("learner", [UserUttered("what is the RTI fee?")], slots=DOMAIN.slots)
    if language:
        t.update(SlotSet("language", language))
    return t


async def run(port: int, t: DialogueStateTracker) -> tuple[list, float]:
    action = RemoteAction("action_answer_question", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    start = time.monotonic()
    events = await action.run(CollectingOutputChannel(), NLG, t, DOMAIN)
    return events, time.monotonic() - start


async def serve(reply: bytes | None) -> tuple[asyncio.AbstractServer, int]:
    """A loopback HTTP server that answers ``reply`` to every request, or never answers (None)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reply is None:
            await asyncio.sleep(60)  # hung
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def http(status: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n").encode() + data


@pytest.fixture(autouse=True)
def installed():
    original = getattr(RemoteAction.run, "__wrapped__", RemoteAction.run)
    action_apology.install(timeout_s=1.0)
    yield
    RemoteAction.run = original


def texts(events: list) -> str:
    return " ".join(e.text or "" for e in events if isinstance(e, BotUttered))


def test_refused_connection_gets_the_apology_at_once():
    events, seconds = asyncio.run(run(closed_port(), tracker()))
    assert ENGLISH in texts(events) and seconds < 1


def test_the_apology_is_in_the_learners_language():
    events, _ = asyncio.run(run(closed_port(), tracker("hi")))
    assert HINDI in texts(events)


def test_hung_action_server_gets_the_apology_after_the_timeout():
    async def scenario():
        server, port = await serve(None)
        async with server:
            return await run(port, tracker())

    events, seconds = asyncio.run(scenario())
    assert ENGLISH in texts(events) and 0.9 < seconds < 3


def test_server_error_gets_the_apology():
    async def scenario():
        server, port = await serve(http("500 Internal Server Error", {"error": "boom"}))
        async with server:
            return await run(port, tracker())

    events, _ = asyncio.run(scenario())
    assert ENGLISH in texts(events)


def test_one_apology_per_learner_message():
    t = tracker()
    first, _ = asyncio.run(run(closed_port(), t))
    t.update_with_events(first, DOMAIN)
    second, _ = asyncio.run(run(closed_port(), t))  # a second failing action in the same turn
    assert second == []
    t.update(UserUttered("and the time limit?"))
    third, _ = asyncio.run(run(closed_port(), t))  # a new message: apologise again
    assert ENGLISH in texts(third)


def test_after_the_apology_the_rest_of_the_message_does_not_wait_on_the_server_again():
    """A hung server costs one timeout per message, not one per action of the turn."""
    calls = []

    async def scenario():
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            calls.append(await reader.readuntil(b"\r\n\r\n"))
            await asyncio.sleep(60)  # hung

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            t = tracker()
            first, _ = await run(port, t)
            t.update_with_events(first, DOMAIN)
            second, seconds = await run(port, t)  # the next action of the same turn
            return first, second, seconds

    first, second, seconds = asyncio.run(scenario())
    assert ENGLISH in texts(first) and second == [] and seconds < 0.2 and len(calls) == 1


def test_the_apology_nginx_answers_in_scaled_mode_counts_as_the_one_apology():
    async def scenario():
        apology = http("200 OK", {"events": [], "responses": [{"response": "utter_service_unavailable"}]})
        server, port = await serve(apology)
        async with server:
            t = tracker()
            first, _ = await run(port, t)
            t.update_with_events(first, DOMAIN)
            return first, (await run(closed_port(), t))[0]

    first, second = asyncio.run(scenario())
    assert ENGLISH in texts(first) and second == []


def test_one_apology_when_the_message_also_started_the_session():
    """A new (or expired) conversation runs the custom action_session_start first: it fails
    too, and the learner still gets one apology, not two."""
    t = DialogueStateTracker.from_events("new-learner", [], slots=DOMAIN.slots)
    start = RemoteAction("action_session_start", EndpointConfig(f"http://127.0.0.1:{closed_port()}/webhook"))
    events = asyncio.run(start.run(CollectingOutputChannel(), NLG, t, DOMAIN))
    assert ENGLISH in texts(events)
    t.update(ActionExecuted("action_session_start"))
    t.update_with_events([*events, ActionExecuted("action_listen"), UserUttered("what is the RTI fee?")], DOMAIN)
    assert asyncio.run(run(closed_port(), t))[0] == []
    t.update_with_events([ActionExecuted("action_answer_question"), ActionExecuted("action_listen"),
                          UserUttered("hello?")], DOMAIN)
    assert ENGLISH in texts(asyncio.run(run(closed_port(), t))[0])  # the next message: apologise again


def test_a_rejection_is_not_a_failure():
    async def scenario():
        server, port = await serve(http("400 Bad Request", {"action_name": "action_answer_question", "error": "no"}))
        async with server:
            return await run(port, tracker())

    with pytest.raises(ActionExecutionRejection):
        asyncio.run(scenario())


def test_a_working_action_server_is_untouched():
    answer = {"events": [{"event": "slot", "name": "language", "value": "en"}],
              "responses": [{"text": "The fee is Rs. 10."}]}

    async def scenario():
        server, port = await serve(http("200 OK", answer))
        async with server:
            return await run(port, tracker())

    events, _ = asyncio.run(scenario())
    assert texts(events) == "The fee is Rs. 10." and SlotSet("language", "en") in events


def test_a_bad_timeout_setting_is_refused(monkeypatch):
    monkeypatch.setenv("ACTION_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="ACTION_TIMEOUT_S must be a positive number"):
        action_apology.timeout_from_env()
    monkeypatch.setenv("ACTION_TIMEOUT_S", "2.5")
    assert action_apology.timeout_from_env() == 2.5
