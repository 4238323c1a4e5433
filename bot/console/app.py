"""The trainer console web app (aiohttp, server-rendered HTML, no JavaScript).

Routes (all but ``/login``, ``/healthz`` and ``/console.css`` need a logged-in trainer;
``/accounts`` needs the admin role):

- ``GET /queue`` list and filter queue items; ``GET /items/{id}`` one item with an
  answer form; ``POST /items/{id}/answer`` (``answer``, ``add_to_kb``), ``/close``.
- ``GET /handoffs`` live chats; ``GET /handoffs/{id}`` transcript; ``POST .../reply``, ``.../end``.
- ``GET /analytics`` charts and tables; ``GET /analytics/{table}.csv`` CSV export.
- ``GET|POST /accounts`` list and create trainer accounts (admin).

Security: unauthenticated GETs are redirected to the login page, other requests get
401; wrong role 403; every POST needs the session's CSRF token (403 otherwise) and a
same-origin ``Origin`` header when the browser sends one; cookies are HttpOnly and
SameSite=Strict; a strict Content-Security-Policy; every value shown is HTML-escaped.

Pages are Jinja2 templates in ``bot/console/templates/`` (``base.html`` is the frame, one
template per page, ``_macros.html`` and ``_charts.html`` the shared pieces), rendered with
autoescaping on: a value is escaped unless a template says otherwise, and none does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.console import charts
from bot.console.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, ConsoleSession, Sessions, same_token
from bot.console.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from bot.handoff.analytics import all_tables
from bot.handoff.service import HumanLoop
from bot.handoff.settings import HumanLoopSettings

log = logging.getLogger(__name__)
SESSION_KEY = web.RequestKey("console_state", dict)
CONSOLE_KEY: web.AppKey = web.AppKey("console", object)
PUBLIC = {"/login", "/healthz", "/console.css", "/favicon.ico"}
ADMIN_ONLY = ("/accounts",)
MAX_BODY = 256 * 1024
#: Password hashes computed at once (scrypt at OWASP's parameters needs about 128 MiB each).
HASHES_AT_ONCE = 2

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1a3c6e;color:#fff;padding:.6em 1em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a,header button{color:#fff;background:none;border:0;font:inherit;cursor:pointer;text-decoration:underline}
main{padding:1em;max-width:1100px}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
.msg{white-space:pre-wrap;background:#fff;border:1px solid #ddd;padding:.5em;margin:.3em 0}
.learner{border-left:4px solid #1a3c6e}.trainer{border-left:4px solid #2e7d32}
textarea{width:100%;min-height:8em}.error{color:#b00020}.ok{color:#2e7d32}
form.inline{display:inline}.chart{background:#fff;border:1px solid #ddd;margin:.5em 0}
"""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _templates() -> Environment:
    # Autoescaping for every template (select_autoescape's default=True covers any name):
    # learner questions, chat messages and trainer answers are shown as text, never markup.
    env = Environment(loader=PackageLoader("bot.console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    return env


TEMPLATES = _templates()


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect to another site would help phishing.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


class Console:
    """Request handlers bound to one :class:`HumanLoop`.

    Args:
        loop: the human loop (its store also feeds the analytics).
        settings: human-loop settings (cookie flags, session lifetime).
    """

    def __init__(self, loop: HumanLoop, settings: HumanLoopSettings) -> None:
        self.loop = loop
        self.settings = settings
        self.sessions = Sessions(settings.console_session_hours * 3600, loop.records)
        # Each scrypt hash takes about 128 MiB: bound how many run at once.
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)

    # ------------------------------------------------------------------ frame
    @staticmethod
    def page(template: str, title: str, session: ConsoleSession | None, status: int = 200,
             **context: Any) -> web.Response:
        """Render a page template inside the console frame (``base.html``), as an HTML response.

        Args:
            template: file name under ``bot/console/templates/``.
            title: the page title (``<title>`` and ``<h1>``).
            session: the signed-in trainer (navigation, CSRF fields), or None on the sign-in page.
            status: HTTP status.
            **context: the template's values (escaped when shown).

        Returns:
            A ``text/html`` response.
        """
        html = TEMPLATES.get_template(template).render(title=title, session=session, **context)
        return web.Response(text=html, content_type="text/html", status=status)

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", path="/",
                            secure=self.settings.console_cookie_secure)

    # ------------------------------------------------------------------ login
    async def login_form(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        """``GET /login``: the sign-in form, with ``error`` above it when given."""
        # Reuse the visitor's token: a second login page (another tab, the favicon request
        # redirected here) must not invalidate the form already shown.
        existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        token = existing if 20 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum() \
            else secrets.token_urlsafe(24)
        next_path = _safe_next(request.query.get("next"))
        response = self.page("login.html", "Sign in", None, status, error=error, token=token,
                             next_query=urlencode({"next": next_path}))
        self._set_cookie(response, LOGIN_CSRF_COOKIE, token, 600)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /login``: check the form token, the lockout and the password; start a session."""
        form = await request.post()
        if not same_token(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE)):
            return await self.login_form(request, "Your sign-in form expired; please try again.", 403)
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")[:1024]
        # Counted before the password is checked: concurrent guesses cannot all pass a check made first.
        if not await asyncio.to_thread(self.sessions.begin_attempt, username):
            return await self.login_form(request, "Too many failed attempts; wait a few minutes.", 429)
        account = await asyncio.to_thread(self.loop.records.account, username)
        stored = account["password_hash"] if account else DUMMY_HASH
        async with self._hashing:
            ok = await asyncio.to_thread(verify_password, password, stored)
        if not (account and ok):
            log.info("console: failed sign-in")
            return await self.login_form(request, "Wrong user name or password.", 401)
        await asyncio.to_thread(self.sessions.succeeded, username)
        if needs_rehash(stored):
            async with self._hashing:
                upgraded = await asyncio.to_thread(hash_password, password)
            await asyncio.to_thread(self.loop.records.upgrade_password_hash, account["username"], stored, upgraded)
        session = await asyncio.to_thread(self.sessions.create, account["username"], account["role"])
        response = web.HTTPSeeOther(_safe_next(request.query.get("next")))
        self._set_cookie(response, SESSION_COOKIE, session.id, None)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
        log.info("console: %s signed in", account["username"])
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /logout``: end the session and go back to the sign-in page."""
        self.sessions.drop(request.cookies.get(SESSION_COOKIE))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    # ------------------------------------------------------------------ queue
    async def queue(self, request: web.Request) -> web.Response:
        """``GET /queue``: unanswered questions and feedback, filtered by status, kind and text."""
        session = request[SESSION_KEY]["session"]
        status = request.query.get("status", "open")
        kind = request.query.get("kind") or None
        text = (request.query.get("q") or "").strip()[:200] or None
        items = await asyncio.to_thread(self.loop.records.list_items, None if status == "all" else status, kind, text)
        return self.page("queue.html", "Questions for trainers", session, items=items, status_filter=status,
                         kind=kind, text=text)

    async def item(self, request: web.Request) -> web.Response:
        """``GET /items/{id}``: one queue item, who asked it, and the answer form."""
        session = request[SESSION_KEY]["session"]
        item = await asyncio.to_thread(self.loop.records.get_item, int(request.match_info["id"]))
        if item is None:
            raise web.HTTPNotFound(text="no such item")
        return self.page("item.html", f"Question #{item.id}", session, item=item)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """``POST /items/{id}/answer``: answer an item; every learner who asked it is told."""
        session = request[SESSION_KEY]["session"]
        form = request[SESSION_KEY]["form"]
        item_id = int(request.match_info["id"])
        text = str(form.get("answer") or "")[:8000]
        try:
            result = await asyncio.to_thread(self.loop.answer_item, item_id, text, session.username,
                                             form.get("add_to_kb") == "1", str(form.get("faq_question") or ""))
        except KeyError as exc:
            raise web.HTTPNotFound(text="no such item") from exc
        except ValueError as exc:
            return self.page("error.html", "Answer not sent", session, 400, error=str(exc), back=f"/items/{item_id}")
        return self.page("answered.html", f"Answered #{item_id}", session, result=result, item_id=item_id)

    async def close(self, request: web.Request) -> web.StreamResponse:
        """``POST /items/{id}/close``: close an item without answering it."""
        await asyncio.to_thread(self.loop.records.close_item, int(request.match_info["id"]))
        raise web.HTTPSeeOther("/queue")

    # --------------------------------------------------------------- handoffs
    async def handoffs(self, request: web.Request) -> web.Response:
        """``GET /handoffs``: live chats with trainers, filtered by status."""
        session = request[SESSION_KEY]["session"]
        status = request.query.get("status", "active")
        rows = await asyncio.to_thread(self.loop.records.list_handoffs, None if status == "all" else status)
        return self.page("handoffs.html", "Live chats with learners", session, rows=rows)

    async def handoff(self, request: web.Request) -> web.Response:
        """``GET /handoffs/{id}``: one live chat's messages and the reply form."""
        session = request[SESSION_KEY]["session"]
        data = await asyncio.to_thread(self.loop.records.get_handoff, int(request.match_info["id"]))
        if data is None:
            raise web.HTTPNotFound(text="no such chat")
        return self.page("handoff.html", f"Live chat #{data['id']}", session, chat=data)

    async def handoff_reply(self, request: web.Request) -> web.StreamResponse:
        """``POST /handoffs/{id}/reply``: send the trainer's message to the learner."""
        session = request[SESSION_KEY]["session"]
        handoff_id = int(request.match_info["id"])
        try:
            await asyncio.to_thread(self.loop.trainer_message, handoff_id,
                                    str(request[SESSION_KEY]["form"].get("text") or "")[:4000], session.username)
        except KeyError as exc:
            raise web.HTTPNotFound(text="no such chat") from exc
        except ValueError as exc:
            return self.page("error.html", "Not sent", session, 400, error=str(exc), back=None)
        raise web.HTTPSeeOther(f"/handoffs/{handoff_id}")

    async def handoff_end(self, request: web.Request) -> web.StreamResponse:
        """``POST /handoffs/{id}/end``: the trainer ends the live chat."""
        session = request[SESSION_KEY]["session"]
        handoff_id = int(request.match_info["id"])
        await asyncio.to_thread(self.loop.end_by_trainer, handoff_id, session.username)
        raise web.HTTPSeeOther(f"/handoffs/{handoff_id}")

    # -------------------------------------------------------------- analytics
    async def analytics(self, request: web.Request) -> web.Response:
        """``GET /analytics``: questions per day, gaps and the other tables, with charts."""
        session = request[SESSION_KEY]["session"]
        tables = await asyncio.to_thread(all_tables, self.loop.records.factory)
        per_day = tables["questions_per_day"]
        worst = tables["worst_rated_sources"]
        shown = [{"name": name, "title": title, "columns": tables[name].columns, "rows": tables[name].rows}
                 for name, title in (("worst_rated_sources", None), ("top_unanswered", "Top unanswered questions"),
                                     ("worst_rated_answers", "Worst-rated answers"),
                                     ("quiz_items", "Quiz items: difficulty (share correct) and discrimination"),
                                     ("active_learners", "Active learners"),
                                     ("completion_by_group", "Completion by role and department"))]
        return self.page(
            "analytics.html", "Analytics", session, days=len(per_day.rows),
            answered=sum(r[1] for r in per_day.rows), declined=sum(r[2] for r in per_day.rows),
            per_day=charts.stacked_days(per_day.rows, "Questions per day: answered (green) and declined (red)"),
            worst=charts.hbars([(r[0], r[1]) for r in worst.rows if r[1]], "Thumbs-down per source")
            if any(r[1] for r in worst.rows) else None,
            tables=shown)

    async def analytics_csv(self, request: web.Request) -> web.Response:
        """``GET /analytics/{name}.csv``: one analytics table as CSV."""
        tables = await asyncio.to_thread(all_tables, self.loop.records.factory)
        table = tables.get(request.match_info["name"])
        if table is None:
            raise web.HTTPNotFound(text="no such table")
        return web.Response(text=table.to_csv(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{table.name}.csv"'})

    # --------------------------------------------------------------- accounts
    async def accounts(self, request: web.Request, message: str = "", status: int = 200,
                       message_kind: str = "ok") -> web.Response:
        """``GET /accounts`` (admins): trainer accounts and the form for a new one.

        ``message`` (plain text, shown above the table) is styled by ``message_kind``: ``ok`` or ``error``.
        """
        session = request[SESSION_KEY]["session"]
        rows = await asyncio.to_thread(self.loop.records.list_accounts)
        return self.page("accounts.html", "Trainer accounts", session, status, message=message,
                         message_kind=message_kind,
                         rows=[[r["username"], r["role"], r["active"], _when(r["created_at"])] for r in rows])

    async def create_account(self, request: web.Request) -> web.Response:
        """``POST /accounts`` (admins): create a trainer or admin account."""
        form = request[SESSION_KEY]["form"]
        username = str(form.get("username") or "").strip()
        try:
            if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
                raise ValueError("user names use letters, digits, dot, dash or underscore")
            async with self._hashing:
                digest = await asyncio.to_thread(hash_password, str(form.get("password") or ""))
            await asyncio.to_thread(self.loop.records.create_account, username, digest,
                                    str(form.get("role") or "trainer"))
        except ValueError as exc:
            return await self.accounts(request, str(exc), 400, "error")
        return await self.accounts(request, f"Account {username} created.")

    # ------------------------------------------------------------------- misc
    async def index(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: redirect to the queue."""
        raise web.HTTPSeeOther("/queue")

    @staticmethod
    async def css(request: web.Request) -> web.Response:
        """``GET /console.css``: the console's style sheet."""
        return web.Response(text=CSS, content_type="text/css", headers={"Cache-Control": "no-cache"})

    @staticmethod
    async def favicon(request: web.Request) -> web.Response:
        """``GET /favicon.ico``: no icon (204), so browsers stop asking."""
        return web.Response(status=204)

    @staticmethod
    async def healthz(request: web.Request) -> web.Response:
        """``GET /healthz``: liveness check for the supervisor and load balancers."""
        return web.json_response({"ok": True})


def _security_headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # not "no-referrer": with it browsers send "Origin: null" on form posts, which we refuse.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None  # "null" origins (sandboxed frames, file://) are refused
    return urlparse(origin).netloc == request.host


def _middleware(console: Console) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        try:
            response = await _guarded(console, request, handler)
        except web.HTTPException as exc:
            _security_headers(exc)
            raise
        _security_headers(response)
        return response

    return middleware


async def _guarded(console: Console, request: web.Request, handler) -> web.StreamResponse:
    if request.method == "POST" and not _origin_ok(request):
        raise web.HTTPForbidden(text="cross-origin request refused")
    if request.path in PUBLIC:
        return await handler(request)
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        if request.method == "GET":
            raise web.HTTPSeeOther("/login?" + urlencode({"next": request.path_qs}, quote_via=quote))
        raise web.HTTPUnauthorized(text="sign in first")
    if request.path.startswith(ADMIN_ONLY) and session.role != "admin":
        raise web.HTTPForbidden(text="this page is for administrators")
    state: dict[str, Any] = {"session": session, "form": {}}
    if request.method == "POST":
        form = await request.post()
        if not same_token(form.get("csrf"), session.csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
        state["form"] = form
    request[SESSION_KEY] = state
    return await handler(request)


def create_app(loop: HumanLoop, settings: HumanLoopSettings) -> web.Application:
    """Build the console application.

    Args:
        loop: the human loop to operate on.
        settings: human-loop settings.

    Returns:
        An aiohttp application.
    """
    console = Console(loop, settings)
    app = web.Application(middlewares=[_middleware(console)], client_max_size=MAX_BODY)
    app[CONSOLE_KEY] = console
    r = app.router
    r.add_get("/", console.index)
    r.add_get("/healthz", console.healthz)
    r.add_get("/console.css", console.css)
    r.add_get("/favicon.ico", console.favicon)
    r.add_get("/login", console.login_form)
    r.add_post("/login", console.login)
    r.add_post("/logout", console.logout)
    r.add_get("/queue", console.queue)
    r.add_get(r"/items/{id:\d+}", console.item)
    r.add_post(r"/items/{id:\d+}/answer", console.answer)
    r.add_post(r"/items/{id:\d+}/close", console.close)
    r.add_get("/handoffs", console.handoffs)
    r.add_get(r"/handoffs/{id:\d+}", console.handoff)
    r.add_post(r"/handoffs/{id:\d+}/reply", console.handoff_reply)
    r.add_post(r"/handoffs/{id:\d+}/end", console.handoff_end)
    r.add_get("/analytics", console.analytics)
    r.add_get(r"/analytics/{name:[a-z_]+}.csv", console.analytics_csv)
    r.add_get("/accounts", console.accounts)
    r.add_post("/accounts", console.create_account)
    return app
