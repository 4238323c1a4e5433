"""Markdown subset -> Telegram HTML, message splitting and button mapping."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.channels.bridge_state import BridgeState
from bot.channels.telegram_format import (
    MAX_CALLBACK_BYTES,
    CallbackCodec,
    MemoryPayloadStore,
    build_keyboard,
    format_message,
    markdown_to_html,
    telegram_length,
)

ALLOWED_TAGS = {"b", "i", "a"}


class _Checker(HTMLParser):
    """Parses Telegram HTML strictly: only our tags, balanced, text collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(telegram_html: str) -> str:
    """Text a reader sees; fails on unknown tags, unbalanced tags or broken entities."""
    # A cut entity such as "&am" would survive unescaping as a bare "&".
    assert "&" not in telegram_html.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace(
        "&quot;", ""
    ).replace("&#x27;", "")
    checker = _Checker()
    checker.feed(telegram_html)
    checker.close()
    assert checker.stack == []
    return "".join(checker.text)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and _italic_", "<b>bold</b> and <i>italic</i>"),
        ("<b>x</b> & <script>", "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;"),
        ("file_name_here stays", "file_name_here stays"),
        ("**[RTI](https://rti.gov.in)**", '<b><a href="https://rti.gov.in">RTI</a></b>'),
        ("[mail](mailto:help@example.org)", '<a href="mailto:help@example.org">mail</a>'),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("[click](javascript:alert)", "click"),
        ("[rel](/etc/passwd)", "rel"),
        (
            '[q](https://a.example/?a=1&b="2")',
            '<a href="https://a.example/?a=1&amp;b=&quot;2&quot;">q</a>',
        ),
        ("[q](https://a.example/?a=1&b=2)", '<a href="https://a.example/?a=1&amp;b=2">q</a>'),
        ("- one\n- **two**", "• one\n• <b>two</b>"),
        ("para one\n\npara two", "para one\n\npara two"),
        ("**not\nbold**", "**not\nbold**"),
    ],
)
def test_markdown_to_html(markdown: str, expected: str) -> None:
    assert markdown_to_html(markdown) == expected


def test_cited_answer_renders() -> None:
    answer = (
        "A PIO must reply within 30 days.\n\n"
        "📖 **Source:** RTI for Public Information Officers — 3. Time limits for a reply"
    )
    rendered = markdown_to_html(answer)
    assert "<b>Source:</b> RTI for Public Information Officers — 3. Time limits" in rendered
    assert visible_text(rendered).startswith("A PIO must reply within 30 days.")


def test_telegram_length_counts_utf16_units() -> None:
    assert telegram_length("📖") == 2
    assert telegram_length("सूचना") == 5


def test_short_message_is_one_chunk() -> None:
    assert format_message("Hello **there**") == ["Hello <b>there</b>"]
    assert format_message("   \n\n ") == []


def test_long_message_splits_on_paragraphs_and_keeps_everything() -> None:
    paragraphs = [f"Paragraph {i}: **bold {i}** & <tag> " + "word " * 150 for i in range(40)]
    markdown = "\n\n".join(paragraphs)
    chunks = format_message(markdown)
    assert len(chunks) > 1
    assert all(telegram_length(c) <= 4096 for c in chunks)
    # Paragraph boundaries are used: no paragraph is cut in two.
    for chunk in chunks:
        for piece in chunk.split("\n\n"):
            assert piece.startswith("Paragraph ")
    # Nothing lost or altered: the pieces read exactly like the whole message.
    assert "\n\n".join(visible_text(c) for c in chunks) == visible_text(markdown_to_html(markdown.strip()))


def test_long_paragraph_splits_on_sentences() -> None:
    sentence = "The officer shall reply within thirty days of receipt of the request."
    markdown = " ".join([sentence] * 30)  # one paragraph, ~2,100 characters
    chunks = format_message(markdown, limit=500)
    assert len(chunks) > 4
    assert all(telegram_length(c) <= 500 for c in chunks)
    assert all(c.endswith("request.") for c in chunks)


def test_hindi_sentences_split_at_danda() -> None:
    sentence = "लोक सूचना अधिकारी तीस दिन के भीतर उत्तर देगा।"
    chunks = format_message(" ".join([sentence] * 20), limit=200)
    assert all(c.endswith("।") for c in chunks)
    assert all(telegram_length(c) <= 200 for c in chunks)


def test_unbreakable_text_is_cut_without_breaking_entities() -> None:
    markdown = "&<>" * 3000  # renders to 5x its length in entities
    chunks = format_message(markdown, limit=4096)
    assert all(telegram_length(c) <= 4096 for c in chunks)
    assert "".join(visible_text(c) for c in chunks) == markdown


def test_every_chunk_is_well_formed_html() -> None:
    markdown = "\n".join(f"- **item {i}** with [a link](https://example.org/{i}) & _note_ <x>" for i in range(400))
    chunks = format_message(markdown, limit=1000)
    assert len(chunks) > 10
    lines = [line for c in chunks for line in visible_text(c).split("\n")]
    assert lines == [f"• item {i} with a link & note <x>" for i in range(400)]


def test_short_payloads_travel_as_is_and_long_ones_get_keys() -> None:
    codec = CallbackCodec()
    assert codec.encode("/quiz_me") == "/quiz_me"
    long_payload = '/answer_quiz{"quiz_answer":"B","quiz_id":"' + "x" * 80 + '"}'
    key = codec.encode(long_payload)
    assert len(key.encode()) <= MAX_CALLBACK_BYTES
    assert codec.encode(long_payload) == key  # stable: same button, same key
    assert codec.decode(key) == long_payload
    assert codec.decode("/quiz_me") == "/quiz_me"
    # A payload that looks like a key is itself keyed, so decoding stays unambiguous.
    tricky = codec.encode("#k:abc")
    assert tricky != "#k:abc" and codec.decode(tricky) == "#k:abc"
    # Multi-byte text: the limit is in bytes, not characters.
    hindi = '/ask{"q":"' + "सूचना" * 5 + '"}'
    assert len(hindi) <= 64 < len(hindi.encode())
    assert len(codec.encode(hindi).encode()) <= MAX_CALLBACK_BYTES


def test_memory_store_is_bounded() -> None:
    codec = CallbackCodec(MemoryPayloadStore(max_entries=2))
    keys = [codec.encode(f"/long{i}" + "y" * 70) for i in range(3)]
    assert codec.decode(keys[0]) is None  # evicted
    assert codec.decode(keys[2]) == "/long2" + "y" * 70


def test_durable_store_keeps_payloads_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "telegram.db"
    state = BridgeState(path)
    key = CallbackCodec(state).encode("/x" + "z" * 100)
    state.close()
    reopened = BridgeState(path)
    assert CallbackCodec(reopened).decode(key) == "/x" + "z" * 100
    reopened.close()


def test_store_claims_each_update_once_per_bot(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "telegram.db")
    assert state.claim_update("1", 5) is True
    assert state.claim_update("1", 5) is False
    assert state.claim_update("2", 5) is True  # another bot's update 5 is a different update
    state.remember_chat("tg-abc", 42)
    assert state.chat_for("tg-abc") == 42
    assert state.forget_chat("tg-abc") is True
    assert state.chat_for("tg-abc") is None
    state.close()


def test_keyboard_from_rasa_buttons() -> None:
    codec = CallbackCodec()
    markup = build_keyboard(
        [
            {"title": "Show more", "payload": "/show_more"},
            {"title": "Quiz me on this", "payload": "/quiz_me_on_this"},
            {"title": "Docs", "url": "https://example.org"},
            {"title": "Bad", "url": "javascript:alert(1)"},
            {"title": "", "payload": "/nothing"},
        ],
        codec,
    )
    assert markup is not None
    rows = markup.inline_keyboard
    assert [row[0].text for row in rows] == ["Show more", "Quiz me on this", "Docs"]
    assert rows[0][0].callback_data == "/show_more"
    assert rows[2][0].url == "https://example.org"
    assert build_keyboard([], codec) is None
