"""A fake Telegram Bot API server on loopback, for running the real bridge in tests.

python-telegram-bot's ``base_url`` points the real client here. The server implements the
methods the bridge uses (getMe, getUpdates with ``offset`` and long polling, sendMessage, sendDocument,
sendPoll, sendChatAction, answerCallbackQuery, setMyCommands, deleteWebhook, setWebhook,
editMessageReplyMarkup), builds the updates Telegram would send (messages, button
presses, votes on a quiz poll: :meth:`FakeBotApi.poll_answer_update`), records every call in order, and can be told to answer a method
with 429 ``retry_after`` (once, a number of times in a row, or until told to stop; for
every chat or one). Parameters arrive as python-telegram-bot sends them (form
fields, JSON-encoded where not plain strings) and are decoded back to Python values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 424242
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Tutor",
    "username": "tutor_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Fields that are strings on the wire and must not be JSON-decoded ("123" stays "123").
_RAW_STRING_FIELDS = {"text", "callback_query_id", "secret_token", "url", "action", "parse_mode", "question",
                      "type", "language_code"}


@dataclass
class Call:
    """One recorded API call."""

    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


def _decode(params: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for name, value in params.items():
        if name in _RAW_STRING_FIELDS or not isinstance(value, str):
            decoded[name] = value
            continue
        try:
            decoded[name] = json.loads(value)
        except ValueError:
            decoded[name] = value
    return decoded


class FakeBotApi:
    """The fake server. Start with :meth:`start`; point the bot at :attr:`root`.

    Args:
        token: The only bot token accepted (others get 401 like the real API).
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self._pending: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        # method -> [retry_after, calls left to refuse (None: until cleared), chat id or None]
        self._failing: dict[str, list[Any]] = {}
        self._message_id = 1000
        self.blocked: set[int] = set()
        self.polls: list[dict[str, Any]] = []  # messages returned by sendPoll, in order
        self._refused: set[tuple[str, int]] = set()  # (method, chat id) answered 400
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def root(self) -> str:
        """Base URL to give as ``TELEGRAM_API_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test controls -------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (also one with an id already confirmed: that
        simulates Telegram redelivering after the bot died before confirming it)."""
        self._pending.append(update)
        self._new_update.set()

    def fail_once(self, method: str, retry_after: int) -> None:
        """Answer the next call to ``method`` with 429 and ``retry_after`` seconds."""
        self.fail_times(method, 1, retry_after)

    def fail_times(self, method: str, times: int | None, retry_after: int, chat_id: int | None = None) -> None:
        """Answer the next ``times`` calls to ``method`` (all until :meth:`stop_failing` when
        None), only those for ``chat_id`` if given, with 429 and ``retry_after`` seconds."""
        self._failing[method] = [retry_after, times, chat_id]

    def block(self, chat_id: int) -> None:
        """The learner of ``chat_id`` blocks the bot: sending there answers 403 from now on."""
        self.blocked.add(chat_id)

    def refuse(self, method: str, chat_id: int) -> None:
        """Answer ``method`` for ``chat_id`` with 400 Bad Request from now on (e.g. polls disabled)."""
        self._refused.add((method, chat_id))

    def stop_failing(self, method: str) -> None:
        """Answer ``method`` normally again."""
        self._failing.pop(method, None)

    def _refusal(self, method: str, params: dict[str, Any]) -> int | None:
        """The retry_after to refuse this call with, or None to serve it."""
        failing = self._failing.get(method)
        if failing is None:
            return None
        retry_after, left, chat_id = failing
        if chat_id is not None and int(params.get("chat_id", 0)) != chat_id:
            return None
        if left is not None:
            failing[1] = left - 1
            if failing[1] <= 0:
                del self._failing[method]
        return int(retry_after)

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        """Recorded calls to ``method`` (successful ones unless ``ok_only`` is false)."""
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of successful sendMessage calls, optionally for one chat."""
        return [
            c.params["text"]
            for c in self.calls_to("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    # --- update builders -----------------------------------------------------------

    @staticmethod
    def _chat(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": f"Learner{chat_id}"}

    @classmethod
    def message_update(cls, update_id: int, chat_id: int, text: str,
                       language_code: str | None = None) -> dict[str, Any]:
        """A private-chat text message (a ``/command`` gets its bot_command entity).

        ``language_code`` is the learner's Telegram app language (none by default).
        """
        sender: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": f"Learner{chat_id}"}
        if language_code:
            sender["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": cls._chat(chat_id),
            "from": sender,
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": update_id, "message": message}

    @classmethod
    def callback_update(cls, update_id: int, chat_id: int, data: str, message_id: int = 1) -> dict[str, Any]:
        """A button press on a message the bot sent."""
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq-{update_id}",
                "from": {"id": chat_id, "is_bot": False, "first_name": f"Learner{chat_id}"},
                "chat_instance": f"ci-{chat_id}",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": cls._chat(chat_id),
                    "from": BOT_USER,
                    "text": "question",
                },
            },
        }

    @staticmethod
    def poll_answer_update(update_id: int, poll_id: str, user_id: int, option_ids: list[int]) -> dict[str, Any]:
        """A vote on a non-anonymous poll the bot sent (Telegram names the poll and the voter, no chat)."""
        return {
            "update_id": update_id,
            "poll_answer": {
                "poll_id": poll_id,
                "user": {"id": user_id, "is_bot": False, "first_name": f"Learner{user_id}"},
                "option_ids": option_ids,
                "option_persistent_ids": [f"o{i}" for i in option_ids],
            },
        }

    # --- the API -------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params = _decode({k: v for k, v in form.items() if isinstance(v, str)})
        for name, value in form.items():  # uploaded files (sendDocument): keep name and bytes
            if isinstance(value, web.FileField):
                params[name] = {"filename": value.filename, "content": value.file.read()}
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if request.match_info["token"] != self.token:
            self.calls.append(Call(method, params, 401))
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method in ("sendMessage", "sendPoll") and int(params.get("chat_id", 0)) in self.blocked:
            self.calls.append(Call(method, params, 403))
            return web.json_response(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, status=403
            )
        if (method, int(params.get("chat_id", 0) or 0)) in self._refused:
            self.calls.append(Call(method, params, 400))
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: refused"},
                                     status=400)
        retry_after = self._refusal(method, params)
        if retry_after is not None:
            self.calls.append(Call(method, params, 429))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self.calls.append(Call(method, params, 404))
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        self.calls.append(Call(method, params, 200))
        return web.json_response({"ok": True, "result": await handler(params)})

    async def _api_getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802 (API name)
        return BOT_USER

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        offset = int(params.get("offset") or 0)
        if offset:
            # Telegram forgets updates below the offset: they count as confirmed.
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if not self._pending:
            self._new_update.clear()
            # Short cap: the bridge stops (and confirms its offset) within a poll.
            wait = min(float(params.get("timeout") or 0), 0.25)
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), wait)
        return self._pending[: int(params.get("limit") or 100)]

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._message_id += 1
        message = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": self._chat(int(params["chat_id"])),
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._message(params)

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:  # noqa: N802
        message = self._message(params)
        document = params.get("document") or {}
        message["document"] = {"file_id": f"doc-{self._message_id}", "file_unique_id": f"u{self._message_id}",
                               "file_name": document.get("filename") if isinstance(document, dict) else None}
        return message

    async def _api_sendPoll(self, params: dict[str, Any]) -> Any:  # noqa: N802
        message = self._message(params)
        del message["text"]
        options = [o["text"] if isinstance(o, dict) else str(o) for o in params.get("options") or []]
        message["poll"] = {
            "id": f"poll-{self._message_id}",
            "question": params.get("question", ""),
            "options": [{"text": text, "voter_count": 0, "persistent_id": f"o{i}"} for i, text in enumerate(options)],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": params.get("type", "regular"),
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
            "correct_option_ids": params.get("correct_option_ids"),
        }
        self.polls.append(message)
        return message

    def poll_ids(self, chat_id: int) -> list[str]:
        """Ids of the polls sent to a chat, in order."""
        return [m["poll"]["id"] for m in self.polls if m["chat"]["id"] == chat_id]

    def sent_polls(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendPoll calls, optionally to one chat."""
        return [c for c in self.calls_to("sendPoll") if chat_id is None or int(c.params["chat_id"]) == chat_id]

    def sent_documents(self, chat_id: int) -> list[tuple[str, bytes]]:
        """``(file name, bytes)`` of successful sendDocument calls to one chat."""
        return [(c.params["document"]["filename"], c.params["document"]["content"])
                for c in self.calls_to("sendDocument") if int(c.params["chat_id"]) == chat_id]

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._message({"chat_id": params.get("chat_id", 0), **params})

    async def _api_sendChatAction(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True
