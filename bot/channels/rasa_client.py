"""Async client for Rasa's REST channel (``POST /webhooks/rest/webhook``).

Rasa replies with a JSON list of messages ``{"recipient_id", "text"?, "buttons"?,
"custom"?, "image"?}``. Channels must not go silent when Rasa is down, so every failure
mode (refused connection, timeout, 5xx, malformed body) surfaces as one of two
exceptions that the caller turns into an apology.
"""

from __future__ import annotations

from typing import Any

import httpx

REST_PATH = "/webhooks/rest/webhook"


class RasaError(Exception):
    """Rasa answered, but not with something we can use (4xx, not a JSON list)."""


class RasaUnavailable(RasaError):
    """Rasa could not be reached in time or failed on its side (connection, timeout, 5xx)."""


class RasaClient:
    """Send learner messages to Rasa's REST channel.

    Args:
        base_url: Rasa server root, e.g. ``http://127.0.0.1:5005``.
        timeout: Seconds to wait for a whole reply (Rasa runs custom actions inline).
        client: An ``httpx.AsyncClient`` to use (tests); one is created otherwise.
    """

    def __init__(self, base_url: str, timeout: float = 20.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = base_url.rstrip("/") + REST_PATH
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._owns_client = client is None

    async def send(self, sender: str, text: str) -> list[dict[str, Any]]:
        """Send one user message and return Rasa's replies.

        Args:
            sender: Conversation id (pseudonymous).
            text: The message or an intent payload such as ``/greet``.

        Returns:
            Rasa's reply messages, possibly empty.

        Raises:
            RasaUnavailable: On connection errors, timeouts and 5xx responses.
            RasaError: On 4xx responses or a body that is not a JSON list of objects.
        """
        try:
            response = await self._client.post(self.url, json={"sender": sender, "message": text})
        except httpx.TimeoutException as exc:
            raise RasaUnavailable(f"Rasa did not answer in time ({self.url})") from exc
        except httpx.TransportError as exc:
            raise RasaUnavailable(f"cannot reach Rasa at {self.url}: {exc!r}") from exc
        if response.status_code >= 500:
            raise RasaUnavailable(f"Rasa failed with HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RasaError(f"Rasa refused the message with HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise RasaError("Rasa returned a body that is not JSON") from exc
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise RasaError("Rasa returned JSON that is not a list of messages")
        return body

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RasaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
