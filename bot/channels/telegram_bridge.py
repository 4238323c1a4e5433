"""Telegram bridge: relays learners' Telegram messages to Rasa and Rasa's replies back.

Usage::

    TELEGRAM_BOT_TOKEN=123:abc python -m bot.channels.telegram_bridge
    TELEGRAM_BOT_TOKEN=123:abc TELEGRAM_WEBHOOK_SECRET=... \\
        python -m bot.channels.telegram_bridge --webhook https://tutor.example.org/telegram \\
        --listen 0.0.0.0 --port 8443

Without ``--webhook`` the bridge long-polls ``getUpdates``. With it, Telegram POSTs
updates to the URL; requests without the right ``X-Telegram-Bot-Api-Secret-Token``
header are refused with 403 by python-telegram-bot before any processing. ``--listen``
defaults to 127.0.0.1 (a TLS reverse proxy in front); give ``--cert``/``--key`` to
terminate TLS here instead.

Environment (see :mod:`bot.config`): ``TELEGRAM_BOT_TOKEN`` (required),
``RASA_URL``, ``RASA_TIMEOUT`` (s, default 20), ``TELEGRAM_API_BASE_URL`` (Bot API root,
default https://api.telegram.org; tests point it at a fake server),
``TELEGRAM_WEBHOOK_SECRET`` (default: derived from the pseudonym salt),
``TELEGRAM_PROACTIVE_PORT`` (loopback, default 5056), ``ACTION_SERVER_TOKEN``,
``TUTOR_STATE_DIR`` (the store is ``telegram.db`` there).

Behaviour:

- Commands map to Rasa intents (``/start`` -> ``/greet``, ...; see :data:`COMMANDS`);
  text goes to Rasa as typed; a button press is answered and its payload sent to Rasa.
- Rasa sees a pseudonym, ``tg-`` + HMAC-SHA256(salt, chat id), never the chat id.
- Updates of one chat are handled in order, chats concurrently, each update once
  (:mod:`bot.channels.update_processor`); if Rasa is down the learner gets an apology.
- Every message to a chat goes through a durable outbox (:mod:`bot.channels.outbox`, in
  ``telegram.db``): 429 ``retry_after`` is honoured (python-telegram-bot's
  ``AIORateLimiter`` retries a few times, then the outbox keeps retrying), messages of a
  chat arrive in order, and nothing queued is lost on a restart; a message undelivered
  for ``TELEGRAM_OUTBOX_EXPIRY_HOURS`` (default 24) is dropped, with the reason logged.
- Each chat has a message budget (:mod:`bot.channels.rate_limit`, ``TELEGRAM_RATE_BURST``
  messages at once, refilled at ``TELEGRAM_RATE_PER_MIN`` a minute): a flood is not
  passed to Rasa, and the learner gets one "slow down" note.
- A command whose intent is not in the domain (``domain.yml``: the feature is not built
  yet) is answered locally instead of reaching Rasa, where an unknown intent would be
  classified as whatever the policies guess; a message Rasa answers with nothing gets a
  short note instead of silence.
- Other components message a learner through :mod:`bot.channels.proactive`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.dedup import TelegramStore
from bot.channels.outbox import OutboxSender, OutgoingMessage
from bot.channels.proactive import ProactiveServer, RecipientGone, UnknownSender
from bot.channels.rasa_client import RasaClient, RasaError
from bot.channels.rate_limit import ChatRateLimiter
from bot.channels.telegram_format import (
    CallbackCodec,
    build_keyboard,
    document_of,
    format_message,
    markdown_to_html,
)
from bot.channels.update_processor import ChatLocks, OrderedDedupProcessor
from bot.config import PROJECT_ROOT, Settings, load_settings

LOGGER = logging.getLogger(__name__)
BRIDGE_KEY = "bridge"
APOLOGY = (
    "Sorry, the tutor is not reachable right now. Please try again in a minute - "
    "your message was not lost on our side, but I could not answer it."
)
EXPIRED_BUTTON = "This button has expired. Please ask again."
BUTTON_PROMPT = "Please choose:"
TEXT_ONLY = "I can only read text messages for now. Please type your question."
UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do."
SLOW_DOWN = (
    "You are sending messages faster than I can answer them. Please slow down - "
    "wait a few seconds, then send your question again."
)
NO_REPLY = "I have no answer for that yet. Send /help to see what I can do, or ask me a question."
NOT_AVAILABLE = "That feature is not available yet. Send /help to see what I can do, or ask me a question."
DOMAIN_PATH = PROJECT_ROOT / "domain.yml"
_INTENT_PAYLOAD = re.compile(r"^/([A-Za-z0-9_]+)")
# Chat actions last 5 s on the client; refresh a little earlier while Rasa works.
TYPING_REFRESH_S = 4.0


@dataclass(frozen=True)
class Command:
    """A Telegram command, the Rasa intent it triggers and its menu description."""

    name: str
    intent: str
    description: str


COMMANDS: tuple[Command, ...] = (
    Command("start", "/greet", "Start or restart the tutor"),
    Command("help", "/help", "What I can do"),
    Command("quiz", "/quiz_me", "Take a short quiz"),
    Command("review", "/review", "Review what is due"),
    Command("progress", "/show_progress", "See your progress"),
    Command("plan", "/show_plan", "Your learning plan"),
    Command("language", "/choose_language", "Choose English or Hindi"),
    Command("trainer", "/request_trainer", "Ask a human trainer"),
    Command("deletemydata", "/delete_my_data", "Delete your data"),
)
INTENT_FOR = {command.name: command.intent for command in COMMANDS}


@dataclass(frozen=True)
class Delivery:
    """What became of replies handed to :meth:`TelegramBridge.deliver`.

    Attributes:
        queued: Telegram messages the replies became, all stored in the outbox.
        sent: Those Telegram accepted at once; the others follow from the outbox.
    """

    queued: int
    sent: list[Message] = field(default_factory=list)


def domain_intents(path: Path | None = None) -> frozenset[str] | None:
    """Intents the Rasa domain declares, to tell which commands Rasa can understand.

    Args:
        path: The domain file or a folder of domain files (default :data:`DOMAIN_PATH`).

    Returns:
        The intent names, or None if the domain cannot be read (then every command is sent).
    """
    import yaml

    path = path or DOMAIN_PATH

    files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
    intents: set[str] = set()
    try:
        for file in files:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            for entry in data.get("intents") or []:
                intents.update(entry if isinstance(entry, dict) else [entry])
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        LOGGER.warning("Cannot read the Rasa domain at %s (%s); sending every command to Rasa", path, exc)
        return None
    return frozenset(str(name) for name in intents)


class TelegramBridge:
    """State shared by the handlers: store, Rasa client, button codec, chat locks.

    Args:
        settings: Runtime settings.
        store: The bridge's durable store.
        rasa: Client for Rasa's REST channel.
        locks: Per-chat locks shared with the update processor.
        known_intents: Intents in the Rasa domain (None: unknown, send everything).
    """

    def __init__(
        self,
        settings: Settings,
        store: TelegramStore,
        rasa: RasaClient,
        locks: ChatLocks,
        known_intents: frozenset[str] | None = None,
    ) -> None:
        self.settings = settings
        self.known_intents = known_intents
        self.store = store
        self.rasa = rasa
        self.locks = locks
        self.codec = CallbackCodec(store)
        self.sender = OutboxSender(store.outbox, locks)
        self.limiter = ChatRateLimiter(settings.telegram_rate_burst, settings.telegram_rate_per_min / 60.0)
        self.application: Application | None = None
        self.proactive: ProactiveServer | None = None
        self._salt = settings.pseudonym_salt.encode()

    def understands(self, message: str) -> bool:
        """Whether Rasa's domain knows the intent of an ``/intent`` payload (text always passes).

        Args:
            message: Text or intent payload.

        Returns:
            False only for an ``/intent`` payload whose intent the domain does not declare.
        """
        match = _INTENT_PAYLOAD.match(message)
        return match is None or self.known_intents is None or match.group(1) in self.known_intents

    def pseudonym(self, chat_id: int) -> str:
        """Return the Rasa sender id for a chat and remember the mapping.

        Args:
            chat_id: Telegram chat id.

        Returns:
            ``tg-`` followed by 32 hex digits of HMAC-SHA256(salt, chat id).
        """
        digest = hmac.new(self._salt, f"telegram:{chat_id}".encode(), hashlib.sha256)
        sender = "tg-" + digest.hexdigest()[:32]
        self.store.remember_chat(sender, chat_id)
        return sender

    async def ask_rasa(self, sender: str, text: str) -> list[dict[str, Any]]:
        """Send ``text`` to Rasa; on failure return the apology as Rasa-shaped reply.

        Args:
            sender: Pseudonymous sender id.
            text: Message or intent payload.

        Returns:
            Rasa's replies, or one apology message.
        """
        try:
            return await self.rasa.send(sender, text)
        except RasaError as exc:
            LOGGER.warning("Rasa failed for %s: %s", sender, exc)
            return [{"text": APOLOGY}]

    async def deliver(self, bot: Any, chat_id: int, replies: Sequence[dict[str, Any]]) -> Delivery:
        """Send Rasa replies to a chat through the outbox: formatted, split, buttons on the last piece.

        Args:
            bot: The application's bot (``ExtBot``, rate limited).
            chat_id: Telegram chat id (the caller holds the chat's lock).
            replies: Rasa REST messages.

        Returns:
            How many messages were queued and which were sent at once.

        Raises:
            telegram.error.Forbidden: The learner blocked the bot.
        """
        messages: list[OutgoingMessage] = []
        sent: list[Message] = []
        queued = 0
        for reply in replies:
            document = document_of(reply)
            if document is not None:  # e.g. "export my data": a file in the chat
                # What Rasa sent before the file goes first. The file itself is sent directly,
                # not through the outbox (which keeps text): if Telegram refuses it, the
                # learner sees the error note and can ask for the export again.
                if messages:
                    queued += len(messages)
                    sent += await self.sender.send(bot, chat_id, messages)
                    messages = []
                sent.append(await bot.send_document(chat_id, document[1], filename=document[0]))
                continue
            text = reply.get("text") or ""
            keyboard = build_keyboard(reply.get("buttons") or [], self.codec)
            chunks = format_message(text) if isinstance(text, str) else []
            if keyboard is not None and not chunks:
                chunks = [markdown_to_html(BUTTON_PROMPT)]
            if not chunks:
                LOGGER.debug("Skipping a reply without text for Telegram: %s", sorted(reply))
                continue
            for index, chunk in enumerate(chunks):
                markup = keyboard if index == len(chunks) - 1 else None
                messages.append(OutgoingMessage(chunk, ParseMode.HTML, markup))
        if messages:
            queued += len(messages)
            sent += await self.sender.send(bot, chat_id, messages)
        return Delivery(queued, sent)

    async def send_text(self, bot: Any, chat_id: int, text: str) -> None:
        """Send a plain-text note (slow down, not available, ...) through the outbox.

        Args:
            bot: The application's bot.
            chat_id: Telegram chat id (the caller holds the chat's lock).
            text: The note.
        """
        await self.sender.send(bot, chat_id, [OutgoingMessage(text)])

    async def deliver_to(self, sender: str, replies: list[dict[str, Any]]) -> list[int]:
        """Send replies to the chat behind a pseudonym (proactive messages).

        Args:
            sender: Pseudonymous sender id.
            replies: Rasa-shaped messages.

        Returns:
            Telegram message ids.

        Raises:
            UnknownSender: No chat known for ``sender``.
            RecipientGone: The learner blocked the bot.
        """
        chat_id = self.store.chat_for(sender)
        if chat_id is None or self.application is None:
            raise UnknownSender(sender)
        # Same lock as the chat's updates: a reminder never lands inside a split reply.
        async with self.locks.hold(chat_id):
            try:
                delivery = await self.deliver(self.application.bot, chat_id, replies)
            except Forbidden as exc:
                raise RecipientGone(sender) from exc
        # Messages still waiting in the outbox (e.g. after a 429) are delivered later.
        return [message.message_id for message in delivery.sent]

    def forget(self, sender: str) -> bool:
        """Forget the chat behind ``sender``.

        Args:
            sender: Pseudonymous sender id.

        Returns:
            Whether a mapping existed.
        """
        return self.store.forget_chat(sender)


def _bridge(context: ContextTypes.DEFAULT_TYPE) -> TelegramBridge:
    return context.bot_data[BRIDGE_KEY]


@contextlib.asynccontextmanager
async def typing_indicator(bot: Any, chat_id: int) -> AsyncIterator[None]:
    """Show "typing..." in the chat until the block ends.

    Args:
        bot: The application's bot.
        chat_id: Telegram chat id.

    Yields:
        Nothing.
    """

    async def keep_typing() -> None:
        while True:
            # Cosmetic: a failed chat action must never stop the reply.
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_REFRESH_S)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE, message: str) -> None:
    """Send ``message`` to Rasa for this chat and deliver the replies.

    Args:
        update: The incoming update.
        context: The handler context.
        message: Text or intent payload for Rasa.
    """
    bridge = _bridge(context)
    chat = update.effective_chat
    if chat is None:
        return
    allowed, warn = bridge.limiter.check(chat.id)
    if not allowed:
        LOGGER.warning("Chat over its message budget: message not sent to Rasa")
        if warn:
            await bridge.send_text(context.bot, chat.id, SLOW_DOWN)
        return
    if not bridge.understands(message):
        # E.g. /progress before the progress feature exists: Rasa would guess some other intent.
        LOGGER.info("Intent of %s is not in the Rasa domain; answering locally", message.split("{")[0])
        await bridge.send_text(context.bot, chat.id, NOT_AVAILABLE)
        return
    sender = bridge.pseudonym(chat.id)
    async with typing_indicator(context.bot, chat.id):
        replies = await bridge.ask_rasa(sender, message)
    if not (await bridge.deliver(context.bot, chat.id, replies)).queued:
        if any(isinstance(r.get("custom"), dict) and r["custom"].get("handoff") == "relayed" for r in replies):
            return  # [human loop] a trainer has this chat (actions/handoff.py): silence is intended
        # E.g. a command whose intent this Rasa model does not know yet: say so, not silence.
        LOGGER.info("Rasa sent nothing deliverable for a message; sending a note")
        await bridge.send_text(context.bot, chat.id, NO_REPLY)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: greet the learner."""
    await relay(update, context, INTENT_FOR["start"])


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: explain what the tutor can do."""
    await relay(update, context, INTENT_FOR["help"])


async def quiz(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/quiz: start a quiz."""
    await relay(update, context, INTENT_FOR["quiz"])


async def review(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/review: spaced review of due items."""
    await relay(update, context, INTENT_FOR["review"])


async def progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/progress: show mastery so far."""
    await relay(update, context, INTENT_FOR["progress"])


async def plan(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/plan: show the learning plan."""
    await relay(update, context, INTENT_FOR["plan"])


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: choose the reply language."""
    await relay(update, context, INTENT_FOR["language"])


async def trainer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trainer: hand over to a human trainer."""
    await relay(update, context, INTENT_FOR["trainer"])


async def delete_my_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/deletemydata: start the data-deletion dialogue."""
    await relay(update, context, INTENT_FOR["deletemydata"])


COMMAND_HANDLERS = {
    "start": start,
    "help": help_command,
    "quiz": quiz,
    "review": review,
    "progress": progress,
    "plan": plan,
    "language": language,
    "trainer": trainer,
    "deletemydata": delete_my_data,
}


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other text: pass it to Rasa as typed."""
    if update.message and update.message.text:
        await relay(update, context, update.message.text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command we do not know: point to /help instead of confusing Rasa."""
    if update.effective_chat:
        await _bridge(context).send_text(context.bot, update.effective_chat.id, UNKNOWN_COMMAND)


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, voice notes, stickers: say we read text only."""
    if update.effective_chat:
        await _bridge(context).send_text(context.bot, update.effective_chat.id, TEXT_ONLY)


async def button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press: answer the callback query, retire the keyboard, send the payload."""
    query = update.callback_query
    if query is None:
        return
    payload = _bridge(context).codec.decode(query.data or "")
    # Every callback query must be answered, or the button keeps spinning.
    with contextlib.suppress(TelegramError):  # e.g. "query is too old" after a long wait
        await query.answer(EXPIRED_BUTTON if payload is None else None)
    if payload is None:
        return
    if query.message is not None:
        # Remove the buttons so the same quiz answer cannot be sent twice.
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(reply_markup=None)
    await relay(update, context, payload)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log errors from handlers and tell the learner something went wrong."""
    LOGGER.error("Error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, APOLOGY)


async def post_init(application: Application) -> None:
    """Publish the command menu, start the outbox and the proactive endpoint."""
    bridge: TelegramBridge = application.bot_data[BRIDGE_KEY]
    await application.bot.set_my_commands([BotCommand(command.name, command.description) for command in COMMANDS])
    bridge.sender.start(application.bot)  # first sends what a previous run left queued
    bridge.proactive = ProactiveServer(bridge, bridge.settings.action_token, bridge.settings.telegram_proactive_port)
    await bridge.proactive.start()


async def post_stop(application: Application) -> None:
    """Stop the outbox's background task while the bot can still send (the queue stays stored)."""
    await application.bot_data[BRIDGE_KEY].sender.stop()


async def post_shutdown(application: Application) -> None:
    """Stop the outbox, the proactive endpoint, close the Rasa client and the store."""
    bridge: TelegramBridge = application.bot_data[BRIDGE_KEY]
    await bridge.sender.stop()
    if bridge.proactive is not None:
        await bridge.proactive.stop()
    await bridge.rasa.aclose()
    bridge.store.close()


def webhook_secret(settings: Settings) -> str:
    """Return the webhook secret: the configured one, else one derived from the salt.

    Args:
        settings: Runtime settings.

    Returns:
        A token of the characters Telegram allows (``A-Za-z0-9_-``).
    """
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    digest = hmac.new(settings.pseudonym_salt.encode(), b"telegram-webhook", hashlib.sha256)
    return digest.hexdigest()


def build_application(settings: Settings) -> Application:
    """Build the python-telegram-bot Application for the bridge.

    Args:
        settings: Runtime settings; ``telegram_token`` must be set.

    Returns:
        The Application with handlers, rate limiter and update processor installed.

    Raises:
        ValueError: If no bot token is configured.
    """
    if not settings.telegram_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    store = TelegramStore(settings.state_dir / "telegram.db", settings.telegram_outbox_expiry_s,
                          chat_retention_s=settings.retention_days * 86400.0)
    locks = ChatLocks()
    bridge = TelegramBridge(
        settings, store, RasaClient(settings.rasa_url, settings.rasa_timeout), locks, domain_intents()
    )
    api = settings.telegram_api_base_url
    application = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(OrderedDedupProcessor(store, settings.telegram_token.split(":")[0], locks))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data[BRIDGE_KEY] = bridge
    bridge.application = application

    private = filters.ChatType.PRIVATE
    for name, callback in COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, callback, filters=private))
    application.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT, text_message))
    application.add_handler(CallbackQueryHandler(button_pressed))
    application.add_handler(MessageHandler(private & ~filters.TEXT, not_text))
    application.add_error_handler(error_handler)
    return application


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Relay Telegram chats to the Rasa tutor.")
    parser.add_argument("--webhook", metavar="URL", help="public HTTPS URL (webhook mode)")
    parser.add_argument("--listen", default="127.0.0.1", help="webhook listen address")
    parser.add_argument("--port", type=int, default=8443, help="webhook listen port")
    parser.add_argument("--url-path", default="telegram", help="webhook path on this server")
    parser.add_argument("--cert", help="TLS certificate (if no reverse proxy)")
    parser.add_argument("--key", help="TLS private key (if no reverse proxy)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bridge until interrupted.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    args = _parse_args(argv)
    settings = load_settings()
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging()
    # httpx logs every request URL at INFO, and the URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not settings.telegram_token:
        print("TELEGRAM_BOT_TOKEN is not set; the Telegram bridge is not started.", file=sys.stderr)
        return 2
    application = build_application(settings)
    if args.webhook:
        application.run_webhook(
            listen=args.listen,
            port=args.port,
            url_path=args.url_path,
            webhook_url=args.webhook,
            secret_token=webhook_secret(settings),
            cert=args.cert,
            key=args.key,
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
