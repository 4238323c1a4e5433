"""The web widget's languages and interface texts, from the locale files.

The widget (``web/widget/tutor-widget.js``) fetches ``GET /widget/config.json`` and
builds its language menu from it, so a language added to ``bot/locales`` appears in
the widget with no change to its code. Each language carries the widget's texts: the
locale keys ``widget_<name>``, sent as ``<camelCaseName>`` (``widget_input_label`` ->
``inputLabel``), English where a locale lacks one.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import DEFAULT_LANGUAGE, interface_language, interface_languages, t, text_keys
from bot.language import MAX_MESSAGE_CHARS

#: Locale keys of the widget's texts start with this.
WIDGET_PREFIX = "widget_"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def widget_texts(language: str) -> dict[str, str]:
    """The widget's interface texts in ``language``.

    Args:
        language: An interface language code.

    Returns:
        ``{camelCaseName: text}`` for every ``widget_*`` key of the English locale, with
        ``{limit}`` (the message size limit) and ``{language_name}`` (the language's own name)
        filled in.
    """
    entry = interface_language(language)
    own_name = entry.native_name if entry is not None else language
    return {_camel(key[len(WIDGET_PREFIX):]): t(key, language, limit=MAX_MESSAGE_CHARS, language_name=own_name)
            for key in text_keys(WIDGET_PREFIX)}


def widget_config() -> dict[str, Any]:
    """What ``GET /widget/config.json`` answers.

    Returns:
        ``{"default": code, "languages": [{"code", "name", "nativeName", "script",
        "strings"}, ...]}``, English first.
    """
    return {
        "default": DEFAULT_LANGUAGE,
        "languages": [
            {"code": lang.code, "name": lang.name, "nativeName": lang.native_name, "script": lang.script,
             "strings": widget_texts(lang.code)}
            for lang in interface_languages()
        ],
    }
