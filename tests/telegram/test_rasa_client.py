"""RasaClient: replies on success, RasaUnavailable / RasaError on every failure mode."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from rasa_stand_in import RasaStandIn
from tg_harness import free_port

from bot.channels.rasa_client import RasaClient, RasaError, RasaUnavailable


def _client(handler: object) -> RasaClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return RasaClient("http://rasa.test/", client=httpx.AsyncClient(transport=transport))


def test_send_posts_sender_and_message_and_returns_replies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"recipient_id": "tg-1", "text": "hi"}])

    replies = asyncio.run(_client(handler).send("tg-1", "/greet"))
    assert replies == [{"recipient_id": "tg-1", "text": "hi"}]
    assert str(seen[0].url) == "http://rasa.test/webhooks/rest/webhook"
    assert json.loads(seen[0].content) == {"sender": "tg-1", "message": "/greet"}


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(503, text="down"), RasaUnavailable),
        (httpx.Response(500, text="boom"), RasaUnavailable),
        (httpx.Response(404, text="no rest channel"), RasaError),
        (httpx.Response(200, text="<html>"), RasaError),
        (httpx.Response(200, json={"text": "not a list"}), RasaError),
    ],
)
def test_bad_responses_raise(response: httpx.Response, error: type[Exception]) -> None:
    with pytest.raises(error):
        asyncio.run(_client(lambda request: response).send("tg-1", "hello"))


def test_timeout_raises_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RasaUnavailable, match="in time"):
        asyncio.run(_client(handler).send("tg-1", "hello"))


def test_real_timeout_and_refused_connection() -> None:
    async def scenario() -> None:
        rasa = RasaStandIn()
        rasa.delays = {"slow": 2.0}
        await rasa.start()
        try:
            async with RasaClient(rasa.url, timeout=0.3) as client:
                with pytest.raises(RasaUnavailable):
                    await client.send("tg-1", "slow")
        finally:
            await rasa.stop()
        async with RasaClient(f"http://127.0.0.1:{free_port()}", timeout=1) as client:
            with pytest.raises(RasaUnavailable, match="cannot reach"):
                await client.send("tg-1", "hello")

    asyncio.run(scenario())
