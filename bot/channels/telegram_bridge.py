"""Telegram bridge: relays learners' Telegram messages to Rasa and Rasa's replies back.

Usage::

    TELEGRAM_BOT_TOKEN=123:abc python -m bot.channels.telegram_bridge
    TELEGRAM_BOT_TOKEN=123:abc TELEGRAM_WEBHOOK_SECRET=... \\
        python -m bot.channels.telegram_bridge --webhook https://tutor.example.org/telegram \\
        --listen 0.0.0.0 --port 8443

Without ``--webhook`` (or ``TELEGRAM_WEBHOOK_URL``) the bridge long-polls ``getUpdates``. With it, Telegram POSTs
updates to the URL; requests without the right ``X-Telegram-Bot-Api-Secret-Token``
header are refused with 403 by python-telegram-bot before any processing. ``--listen``
defaults to 127.0.0.1 (a TLS reverse proxy in front); give ``--cert``/``--key`` to
terminate TLS here instead.

Environment (see :mod:`bot.config`): ``TELEGRAM_BOT_TOKEN`` (required),
``RASA_URL``, ``RASA_TIMEOUT`` (s, default 20), ``TELEGRAM_API_BASE_URL`` (Bot API root,
default https://api.telegram.org; tests point it at a fake server),
``TELEGRAM_WEBHOOK_SECRET`` (default: derived from the pseudonym salt),
``TELEGRAM_PROACTIVE_PORT`` (loopback, default 5056), ``ACTION_SERVER_TOKEN``,
``TELEGRAM_STORE_URL`` (the bridge's state: default ``telegram.db`` in ``TUTOR_STATE_DIR``;
a shared PostgreSQL lets several bridges run behind one balancer, see
:mod:`bot.channels.update_processor`).

Behaviour:

- Commands map to Rasa intents (``/start`` -> ``/greet``, ...; see :data:`COMMANDS`);
  text goes to Rasa as typed; a button press is answered and its payload sent to Rasa.
- The command menu is published once in English (the default) and once per interface
  language (:func:`bot.i18n.interface_languages`, one locale file each) with its
  ``language_code``; its texts are the locale's ``menu_*`` keys. The bridge's own notes
  (apology, slow down, ...) are the locale's ``telegram_*`` texts, in the language of the
  learner's Telegram app when that is an interface language, else English.
- A multiple-choice question that comes with a ``quiz_poll`` payload goes out as a native
  quiz poll (:class:`bot.channels.telegram_format.QuizPoll`), with the question's other
  buttons (Skip, Stop) under it; when it does not fit Telegram's poll limits, or cannot
  be sent, the question's text and buttons go instead. A vote (``poll_answer`` update)
  is sent to Rasa as the payload of that option's button, so the action server records
  it as a button press; a vote on a poll whose question has moved on, or by someone
  other than the learner it was sent to (a forwarded poll), is not.
- Rasa sees a pseudonym, ``tg-`` + HMAC-SHA256(salt, chat id), never the chat id.
- Updates of one chat are handled in order, chats concurrently, each update once, also
  with several bridges sharing a store (:mod:`bot.channels.update_processor`); if Rasa is
  down the learner gets an apology.
- Every message to a chat goes through a durable outbox (:mod:`bot.channels.outbox`, in
  the bridge's store): 429 ``retry_after`` is honoured (python-telegram-bot's
  ``AIORateLimiter`` retries a few times, then the outbox keeps retrying), messages of a
  chat arrive in order, and nothing queued is lost on a restart; a message undelivered
  for ``TELEGRAM_OUTBOX_EXPIRY_HOURS`` (default 24) is dropped, with the reason logged.
- Each chat has a message budget (:mod:`bot.channels.chat_budget`, ``TELEGRAM_RATE_BURST``
  messages at once, refilled at ``TELEGRAM_RATE_PER_MIN`` a minute), kept in the bridge's
  store so that bridges sharing a store share it: a flood is not passed to Rasa, and the
  learner gets one "slow down" note, however many bridges the flood is spread over.
- A command whose intent is not in the domain (``domain.yml``: the feature is not built
  yet) is answered locally instead of reaching Rasa, where an unknown intent would be
  classified as whatever the policies guess; a message Rasa answers with nothing gets a
  short note instead of silence.
- Other components message a learner through :mod:`bot.channels.proactive` (loopback), or,
  when the bridges share a database server, by leaving the message in the store for any
  bridge to send (:mod:`bot.channels.proactive_queue`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
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
    PollAnswerHandler,
    filters,
)

from bot.channels.bridge_state import BridgeState, SentPoll
from bot.channels.chat_budget import SharedChatRateLimiter
from bot.channels.outbox import OutboxSender, OutgoingMessage
from bot.channels.proactive import ProactiveServer, RecipientGone, UnknownSender
from bot.channels.proactive_queue import ProactiveQueue
from bot.channels.rasa_client import RasaClient, RasaError
from bot.channels.telegram_format import (
    CallbackCodec,
    QuizPoll,
    build_keyboard,
    document_of,
    format_message,
    markdown_to_html,
    quiz_poll_of,
)
from bot.channels.update_processor import ChatTurns, ClaimingQueue, OrderedDedupProcessor
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.i18n import DEFAULT_LANGUAGE, available_languages, is_interface_language, t
from bot.pseudonyms import telegram_sender

LOGGER = logging.getLogger(__name__)
BRIDGE_KEY = "bridge"
#: How often a bridge looks for messages other processes queued in the shared store.
QUEUE_POLL_S = 1.0
DOMAIN_PATH = PROJECT_ROOT / "domain.yml"
_INTENT_PAYLOAD = re.compile(r"^/([A-Za-z0-9_]+)")
# Chat actions last 5 s on the client; refresh a little earlier while Rasa works.
TYPING_REFRESH_S = 4.0


@dataclass(frozen=True)
class Command:
    """A Telegram command and the Rasa intent it triggers; its menu text is in the locales."""

    name: str
    intent: str

    def description(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The menu text in ``language`` (locale key ``menu_<name>``, English when missing)."""
        return t(f"menu_{self.name}", language)


# The capabilities the help message (``utter_help``) lists, in its order.
COMMANDS: tuple[Command, ...] = (
    Command("start", "/greet"),
    Command("help", "/help"),
    Command("quiz", "/quiz_me"),
    Command("review", "/review"),
    Command("progress", "/show_progress"),
    Command("plan", "/show_plan"),
    Command("onboarding", "/start_onboarding"),
    Command("trainer", "/request_trainer"),
    Command("export", "/export_my_data"),
    Command("deletemydata", "/delete_my_data"),
    Command("withdrawconsent", "/withdraw_consent"),
    Command("language", "/choose_language"),
)
INTENT_FOR = {command.name: command.intent for command in COMMANDS}
# Telegram's language_code is a two-letter ISO 639-1 code.
_LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


def learner_language(user: Any) -> str:
    """The interface language of a Telegram user's app, for the bridge's own notes.

    Args:
        user: A ``telegram.User`` (or None); its ``language_code`` is an IETF tag (``hi``, ``pt-br``).

    Returns:
        The tag's language when it is an interface language, else English.
    """
    code = (getattr(user, "language_code", None) or "").split("-")[0].lower()
    return code if is_interface_language(code) else DEFAULT_LANGUAGE


def command_menus(languages: Sequence[str] | None = None) -> list[tuple[str | None, list[BotCommand]]]:
    """The command menu for each language, as ``setMyCommands`` takes it.

    Args:
        languages: Locale codes (default: every interface language, see :func:`bot.i18n.interface_languages`).

    Returns:
        ``(None, English menu)`` first (Telegram's default for every other language),
        then ``(code, menu)`` for each other language with a two-letter code.
    """
    languages = available_languages() if languages is None else languages
    menus: list[tuple[str | None, list[BotCommand]]] = [(None, _menu(DEFAULT_LANGUAGE))]
    for language in languages:
        if language != DEFAULT_LANGUAGE and _LANGUAGE_CODE.match(language):
            menus.append((language, _menu(language)))
    return menus


def _menu(language: str) -> list[BotCommand]:
    return [BotCommand(command.name, command.description(language)) for command in COMMANDS]


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
    """State shared by the handlers: bridge state, Rasa client, button codec, chat locks.

    Args:
        settings: Runtime settings.
        state: The bridge's durable state (update claims, chat map, polls, outbox).
        rasa: Client for Rasa's REST channel.
        locks: Chat turns (this process's lock and the shared lease), shared with the update processor.
        known_intents: Intents in the Rasa domain (None: unknown, send everything).
    """

    def __init__(
        self,
        settings: Settings,
        state: BridgeState,
        rasa: RasaClient,
        locks: ChatTurns,
        known_intents: frozenset[str] | None = None,
    ) -> None:
        self.settings = settings
        self.known_intents = known_intents
        self.state = state
        self.rasa = rasa
        self.locks = locks
        self.codec = CallbackCodec(state)
        self.sender = OutboxSender(state.outbox, locks)
        self.limiter = SharedChatRateLimiter(state.engine, settings.telegram_rate_burst,
                                             settings.telegram_rate_per_min / 60.0)
        self.application: Application | None = None
        self.proactive: ProactiveServer | None = None
        self.queue = ProactiveQueue(state.engine)
        self._draining: asyncio.Task[None] | None = None
        self._salt = settings.pseudonym_salt

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
        sender = self.sender_id(chat_id)
        self.state.remember_chat(sender, chat_id)
        return sender

    def sender_id(self, chat_id: int) -> str:
        """The pseudonym of a chat, without remembering the mapping (see :meth:`pseudonym`)."""
        return telegram_sender(chat_id, self._salt)

    async def ask_rasa(self, sender: str, text: str, language: str = DEFAULT_LANGUAGE) -> list[dict[str, Any]]:
        """Send ``text`` to Rasa; on failure return the apology as Rasa-shaped reply.

        Args:
            sender: Pseudonymous sender id.
            text: Message or intent payload.
            language: The learner's app language, for the apology.

        Returns:
            Rasa's replies, or one apology message.
        """
        try:
            return await self.rasa.send(sender, text)
        except RasaError as exc:
            LOGGER.warning("Rasa failed for %s: %s", sender, exc)
            return [{"text": t("telegram_apology", language)}]

    async def deliver(self, bot: Any, chat_id: int, replies: Sequence[dict[str, Any]],
                      language: str = DEFAULT_LANGUAGE) -> Delivery:
        """Send Rasa replies to a chat through the outbox: formatted, split, buttons on the last piece.

        Args:
            bot: The application's bot (``ExtBot``, rate limited).
            chat_id: Telegram chat id (the caller holds the chat's lock).
            replies: Rasa REST messages.
            language: The learner's app language, for the prompt above buttons sent without text.

        Returns:
            How many messages were queued and which were sent at once.

        Raises:
            telegram.error.Forbidden: The learner blocked the bot.
        """
        messages: list[OutgoingMessage] = []
        sent: list[Message] = []
        queued = 0
        replies = list(replies)
        for index, reply in enumerate(replies):
            poll = _poll_after(replies, index)
            if poll is not None:
                # The poll replaces this question's text and buttons. Sent directly (its id is
                # needed to take the vote), after what Rasa said before it.
                if messages:
                    queued += len(messages)
                    sent += await self.sender.send(bot, chat_id, messages)
                    messages = []
                poll_message = await self.send_poll(bot, chat_id, poll, reply.get("buttons") or [])
                if poll_message is not None:
                    queued += 1
                    sent.append(poll_message)
                    continue
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
                chunks = [markdown_to_html(t("telegram_button_prompt", language))]
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

    async def send_poll(self, bot: Any, chat_id: int, poll: QuizPoll,
                        buttons: Sequence[dict[str, Any]]) -> Message | None:
        """Send a quiz poll and remember it, to take the learner's vote as an answer.

        Args:
            bot: The application's bot.
            chat_id: Telegram chat id (the caller holds the chat's lock).
            poll: The question as a poll (it fits Telegram's limits).
            buttons: The question's Rasa buttons; those that are not answers (Skip, Stop)
                go under the poll.

        Returns:
            The poll's message, or None when the question must go as text and buttons
            instead (earlier messages still wait in the outbox, or Telegram refused it).

        Raises:
            telegram.error.Forbidden: The learner blocked the bot.
        """
        if self.state.outbox.pending(chat_id):
            return None  # a poll sent now would overtake them
        others = [b for b in buttons if b.get("payload") not in poll.answers]
        try:
            message = await bot.send_poll(
                chat_id, poll.question, list(poll.options), is_anonymous=False, type="quiz",
                correct_option_ids=[poll.correct_option_id], reply_markup=build_keyboard(others, self.codec),
            )
        except Forbidden:
            raise
        except TelegramError as exc:
            LOGGER.warning("Quiz poll refused (%s); sending the question as text and buttons", exc)
            return None
        if message.poll is None:
            LOGGER.warning("Telegram answered sendPoll without a poll; votes on it cannot be taken")
            return message
        self.state.put_poll(SentPoll(message.poll.id, chat_id, self.sender_id(chat_id), poll.item_id,
                                     message.message_id, poll.answers))
        return message

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
        chat_id = self.state.chat_for(sender)
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

    async def send_queued(self) -> int:
        """Send what other processes left in the shared store (:mod:`bot.channels.proactive_queue`).

        Returns:
            How many messages were handed to the outbox or given up (unknown chat, blocked
            bot, expired); a message whose send failed otherwise stays for a later pass.
        """
        handled = 0
        for message in await asyncio.to_thread(self.queue.take):
            reason = None
            if self.queue.expired(message):
                reason = "expired"
            else:
                try:
                    await self.deliver_to(message.sender, message.replies)
                except UnknownSender:
                    reason = "no chat known for the learner"
                except RecipientGone:
                    reason = "the learner blocked the bot"
                except Exception:  # the lease runs out and a bridge tries again
                    LOGGER.exception("queued message %d not sent; retried later", message.id)
                    continue
            if reason:
                LOGGER.warning("queued message %d dropped: %s", message.id, reason)
            await asyncio.to_thread(self.queue.done, message.id)
            handled += 1
        return handled

    async def drain_queue_forever(self, every_s: float = QUEUE_POLL_S) -> None:
        """Call :meth:`send_queued` every ``every_s`` seconds until cancelled."""
        while True:
            try:
                await self.send_queued()
            except Exception:  # the store may be down for a while: keep polling
                LOGGER.exception("reading queued messages failed")
            await asyncio.sleep(every_s)

    def forget(self, sender: str) -> bool:
        """Forget the chat behind ``sender``.

        Args:
            sender: Pseudonymous sender id.

        Returns:
            Whether a mapping existed.
        """
        return self.state.forget_chat(sender)


def _poll_after(replies: Sequence[dict[str, Any]], index: int) -> QuizPoll | None:
    """The quiz poll to send instead of ``replies[index]``, or None.

    It is the ``quiz_poll`` payload of the next reply, when the question at ``index``
    carries a button for each of the poll's answers and the poll fits Telegram's limits.
    """
    if index + 1 >= len(replies):
        return None
    poll = quiz_poll_of(replies[index + 1])
    payloads = {b.get("payload") for b in replies[index].get("buttons") or [] if isinstance(b, dict)}
    if poll is None or not set(poll.answers) <= payloads:
        return None
    return poll if poll.fits_telegram() else None


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
    if update.effective_chat is not None:
        await relay_chat(context, update.effective_chat.id, message, learner_language(update.effective_user))


async def relay_chat(context: ContextTypes.DEFAULT_TYPE, chat_id: int, message: str,
                     language: str = DEFAULT_LANGUAGE) -> None:
    """Send ``message`` to Rasa for a chat and deliver the replies (budget and domain checked).

    Args:
        context: The handler context.
        chat_id: Telegram chat id (the update processor holds its lock).
        message: Text or intent payload for Rasa.
        language: The learner's app language (:func:`learner_language`), for the bridge's notes.
    """
    bridge = _bridge(context)
    allowed, warn = bridge.limiter.check(chat_id)
    if not allowed:
        LOGGER.warning("Chat over its message budget: message not sent to Rasa")
        if warn:
            await bridge.send_text(context.bot, chat_id, t("telegram_slow_down", language))
        return
    if not bridge.understands(message):
        # E.g. /progress before the progress feature exists: Rasa would guess some other intent.
        LOGGER.info("Intent of %s is not in the Rasa domain; answering locally", message.split("{")[0])
        await bridge.send_text(context.bot, chat_id, t("telegram_not_available", language))
        return
    sender = bridge.pseudonym(chat_id)
    async with typing_indicator(context.bot, chat_id):
        replies = await bridge.ask_rasa(sender, message, language)
    if not (await bridge.deliver(context.bot, chat_id, replies, language)).queued:
        if any(isinstance(r.get("custom"), dict) and r["custom"].get("handoff") == "relayed" for r in replies):
            return  # [human loop] a trainer has this chat (actions/handoff.py): silence is intended
        # E.g. a command whose intent this Rasa model does not know yet: say so, not silence.
        LOGGER.info("Rasa sent nothing deliverable for a message; sending a note")
        await bridge.send_text(context.bot, chat_id, t("telegram_no_reply", language))


def command_handler(command: Command) -> Any:
    """The handler of a menu command: send its intent to Rasa."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await relay(update, context, command.intent)

    handle.__name__ = f"command_{command.name}"
    handle.__doc__ = f"/{command.name}: {command.description()}."
    return handle


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other text: pass it to Rasa as typed."""
    if update.message and update.message.text:
        await relay(update, context, update.message.text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command we do not know: point to /help instead of confusing Rasa."""
    if update.effective_chat:
        await _bridge(context).send_text(context.bot, update.effective_chat.id,
                                         t("telegram_unknown_command", learner_language(update.effective_user)))


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, voice notes, stickers: say we read text only."""
    if update.effective_chat:
        await _bridge(context).send_text(context.bot, update.effective_chat.id,
                                         t("telegram_text_only", learner_language(update.effective_user)))


async def button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press: answer the callback query, retire the keyboard, send the payload."""
    query = update.callback_query
    if query is None:
        return
    payload = _bridge(context).codec.decode(query.data or "")
    # Every callback query must be answered, or the button keeps spinning.
    with contextlib.suppress(TelegramError):  # e.g. "query is too old" after a long wait
        await query.answer(t("telegram_expired_button", learner_language(query.from_user)) if payload is None else None)
    if payload is None:
        return
    if query.message is not None:
        # Remove the buttons so the same quiz answer cannot be sent twice.
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(reply_markup=None)
    await relay(update, context, payload)


async def poll_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote on a quiz poll: send Rasa the payload of that option's button.

    The update processor holds the poll's chat lock (the update names no chat).
    """
    answer = update.poll_answer
    if answer is None or not answer.option_ids:
        return  # a retracted vote: quiz polls allow none, so nothing to undo
    bridge = _bridge(context)
    poll = bridge.state.get_poll(answer.poll_id)
    if poll is None:
        LOGGER.info("Vote on an unknown or expired quiz poll; ignored")
        return
    if answer.user is None or answer.user.id != poll.chat_id:
        # The poll was forwarded and someone else voted: not this learner's answer.
        LOGGER.info("Vote on a quiz poll by someone other than its learner; ignored")
        return
    option = answer.option_ids[0]
    if not 0 <= option < len(poll.answers):
        LOGGER.warning("Vote for an option the quiz poll does not have; ignored")
        return
    if bridge.state.latest_poll_item(poll.chat_id) != poll.item_id or not bridge.state.claim_poll_answer(poll):
        await bridge.send_text(context.bot, poll.chat_id, t("telegram_stale_poll", learner_language(answer.user)))
        return
    # Skip/Stop under the answered poll would now act on the next question.
    with contextlib.suppress(TelegramError):
        await context.bot.edit_message_reply_markup(chat_id=poll.chat_id, message_id=poll.message_id,
                                                    reply_markup=None)
    await relay_chat(context, poll.chat_id, poll.answers[option], learner_language(answer.user))


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log errors from handlers and tell the learner something went wrong."""
    LOGGER.error("Error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id,
                                           t("telegram_apology", learner_language(update.effective_user)))


async def post_init(application: Application) -> None:
    """Publish the command menus, start the outbox and the proactive endpoint."""
    bridge: TelegramBridge = application.bot_data[BRIDGE_KEY]
    for language_code, commands in command_menus():
        await application.bot.set_my_commands(commands, language_code=language_code)
    bridge.sender.start(application.bot)  # first sends what a previous run left queued
    bridge.proactive = ProactiveServer(bridge, bridge.settings.action_token, bridge.settings.telegram_proactive_port)
    await bridge.proactive.start()
    bridge._draining = asyncio.create_task(bridge.drain_queue_forever())


async def post_stop(application: Application) -> None:
    """Stop the outbox's background task while the bot can still send (the queue stays stored)."""
    await application.bot_data[BRIDGE_KEY].sender.stop()


async def post_shutdown(application: Application) -> None:
    """Stop the outbox, the proactive endpoint, close the Rasa client and the bridge state."""
    bridge: TelegramBridge = application.bot_data[BRIDGE_KEY]
    if bridge._draining is not None:
        bridge._draining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bridge._draining
    await bridge.sender.stop()
    if bridge.proactive is not None:
        await bridge.proactive.stop()
    await bridge.rasa.aclose()
    bridge.state.close()


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
    state = BridgeState(settings.telegram_store_url, settings.telegram_outbox_expiry_s,
                          chat_retention_s=settings.retention_days * 86400.0)
    turns = ChatTurns(state)
    bridge = TelegramBridge(
        settings, state, RasaClient(settings.rasa_url, settings.rasa_timeout), turns, domain_intents()
    )
    processor = OrderedDedupProcessor(state, settings.telegram_token.split(":")[0], turns)
    api = settings.telegram_api_base_url
    application = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(processor)
        .update_queue(ClaimingQueue(processor))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data[BRIDGE_KEY] = bridge
    bridge.application = application

    async def handle_stored(payload: str) -> None:
        # An update another task (maybe another bridge) claimed, taken in this chat's turn.
        await application.process_update(Update.de_json(json.loads(payload), application.bot))

    processor.handle_stored = handle_stored

    private = filters.ChatType.PRIVATE
    for command in COMMANDS:
        application.add_handler(CommandHandler(command.name, command_handler(command), filters=private))
    application.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT, text_message))
    application.add_handler(CallbackQueryHandler(button_pressed))
    application.add_handler(PollAnswerHandler(poll_answered))
    application.add_handler(MessageHandler(private & ~filters.TEXT, not_text))
    application.add_error_handler(error_handler)
    return application


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.POLL_ANSWER]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Relay Telegram chats to the Rasa tutor.")
    parser.add_argument("--webhook", metavar="URL", default=load_settings().telegram_webhook_url or None,
                        help="public HTTPS URL (webhook mode; default TELEGRAM_WEBHOOK_URL)")
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
