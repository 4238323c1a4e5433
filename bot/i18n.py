"""Localised texts and the registry of interface languages, one YAML file per language.

Rasa's own responses are localised in ``domain.yml`` with slot-conditioned variations;
texts that code builds (actions, the Telegram bridge, the web widget) live in
``bot/locales/<code>.yml``. A missing key falls back to English, so a new language that
is only partly translated never breaks a reply.

Each locale file opens with a ``language:`` block saying which language it holds::

    language:
      name: Hindi              # its name in English
      native_name: हिंदी        # its own name, shown in language menus
      script: Devanagari       # "Latin" or a script of bot.language.SCRIPTS
      names: {en: अंग्रेज़ी}     # other languages' names written in this one (optional)
      aliases: [hindi, हिन्दी]  # more words learners type for it (optional)
      markers: [है, हैं, मुझे]  # common words of it that its script's other languages lack (optional)

``markers`` matter only when two interface languages share a script (Hindi and Marathi
are both Devanagari): a message in that script is taken to be in the language whose
markers it uses most, and in the script's usual language (:class:`bot.language.Script`)
when it uses none.

The files with such a block are the interface languages (:func:`interface_languages`):
the Telegram menus, the widget's language list, the reply language a learner may choose
and the languages handed-off answers are filed under all come from here, so adding a
language is adding a file, not code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.language import SCRIPTS, WORD, Script

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "en"
#: The key of a locale file's header block (not a text).
HEADER_KEY = "language"
LATIN = "Latin"


class LocaleError(ValueError):
    """A locale file whose ``language:`` header is missing or malformed."""


@dataclass(frozen=True)
class InterfaceLanguage:
    """A language the tutor's interface speaks, as its locale file describes it.

    Attributes:
        code: The locale file's name, a language code (``en``, ``hi``, ``bn``, ...).
        name: Its name in English.
        native_name: Its name in itself (language menus show this).
        script: The script it is written in: ``Latin`` or a :data:`bot.language.SCRIPTS` name.
        names: Other languages' names written in this language, by code.
        aliases: More words a learner may type to mean this language.
        markers: Frequent words of this language that the other interface languages of its
            script do not use; they tell it apart from them (see :func:`language_of_text`).
    """

    code: str
    name: str
    native_name: str
    script: str
    names: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    markers: frozenset[str] = frozenset()


def _read(folder: Path, language: str) -> dict[str, Any]:
    return _read_path(folder / f"{language}.yml")


@cache
def _read_path(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise LocaleError(f"{path.name}: expected a mapping of keys to texts")
    return data


def _catalogue(language: str) -> dict[str, str]:
    return {k: v for k, v in _read(LOCALES, language).items() if k != HEADER_KEY}


def _header(path: Path) -> InterfaceLanguage:
    header = _read_path(path).get(HEADER_KEY)
    if not isinstance(header, dict):
        raise LocaleError(f"{path.name}: no '{HEADER_KEY}:' block (name, native_name, script)")
    missing = [k for k in ("name", "native_name", "script") if not isinstance(header.get(k), str) or not header[k]]
    if missing:
        raise LocaleError(f"{path.name}: '{HEADER_KEY}:' block lacks {', '.join(missing)}")
    scripts = {LATIN} | {script.name for script in SCRIPTS}
    if header["script"] not in scripts:
        raise LocaleError(f"{path.name}: unknown script {header['script']!r} (one of {sorted(scripts)})")
    names = header.get("names") or {}
    aliases = header.get("aliases") or []
    markers = header.get("markers") or []
    if not isinstance(names, dict) or not isinstance(aliases, list) or not isinstance(markers, list):
        raise LocaleError(f"{path.name}: 'names' must be a mapping, 'aliases' and 'markers' lists")
    return InterfaceLanguage(
        code=path.stem, name=header["name"], native_name=header["native_name"], script=header["script"],
        names={str(k): str(v) for k, v in names.items()},
        aliases=tuple(str(a) for a in aliases),
        markers=frozenset(_folded(str(m)) for m in markers),
    )


@cache
def _registry(folder: Path) -> tuple[InterfaceLanguage, ...]:
    paths = sorted(folder.glob("*.yml"), key=lambda p: (p.stem != DEFAULT_LANGUAGE, p.stem))
    return tuple(_header(path) for path in paths)


def interface_languages() -> tuple[InterfaceLanguage, ...]:
    """Every language with a locale file, English (the default) first, then by code.

    Returns:
        The registry, read from :data:`LOCALES` (cached per folder).

    Raises:
        LocaleError: a locale file has no valid ``language:`` block.
    """
    return _registry(LOCALES)


def interface_language(code: object) -> InterfaceLanguage | None:
    """The registry entry for ``code``, or None when it is not an interface language.

    Args:
        code: A language code, or anything a channel sent (only strings can match).

    Returns:
        The entry, or None.
    """
    return next((lang for lang in interface_languages() if lang.code == code), None)


def is_interface_language(code: object) -> bool:
    """Whether ``code`` names a configured interface language (has a locale file).

    Args:
        code: A language code, or anything a channel sent.

    Returns:
        True for a configured language's code.
    """
    return interface_language(code) is not None


def available_languages() -> list[str]:
    """Codes of the interface languages, English first (see :func:`interface_languages`)."""
    return [lang.code for lang in interface_languages()]


def language_name(code: str, in_language: str = DEFAULT_LANGUAGE) -> str:
    """The name of language ``code`` written in ``in_language``.

    Args:
        code: The language named (need not be an interface language: a document's language).
        in_language: The language the name is written in (the learner's).

    Returns:
        Its own name when both are the same; the name the ``in_language`` locale gives;
        else its English name from its own locale; else ``code`` itself.
    """
    target = interface_language(code)
    if code == in_language and target is not None:
        return target.native_name
    reader = interface_language(in_language)
    if reader is not None and code in reader.names:
        return reader.names[code]
    return target.name if target is not None else code


def language_for_name(text: str) -> str | None:
    """The interface language a learner's word names (``hindi``, ``हिंदी``, ``en``, ...).

    Args:
        text: One word or name, as typed.

    Returns:
        The language code, or None when no interface language is called that.
    """
    word = _folded(text)
    if not word:
        return None
    for lang in interface_languages():
        if word in {_folded(w) for w in (lang.code, lang.name, lang.native_name, *lang.aliases)}:
            return lang.code
    for reader in interface_languages():  # names other locales give it
        for code, name in reader.names.items():
            if word == _folded(name) and is_interface_language(code):
                return code
    return None


def language_named_in(text: str) -> str | None:
    """The interface language a sentence names ("reply in Hindi", "ગુજરાતીમાં", "தமிழில்").

    Indian languages join case endings to the name ("ગુજરાતી" + "માં", "తెలుగు" + "లో",
    "தமிழ்" + "இல்" written "தமிழில்"), so a word that begins with a name of four or more
    letters names that language too; a name's closing virama is dropped first, because
    the ending replaces it.

    Args:
        text: The learner's message.

    Returns:
        The code of the first language named, or None when the message names none.
    """
    words = [_folded(w) for w in WORD.findall(text)]
    for word in words:
        if code := language_for_name(word):
            return code
    stems = [(_stem(name), lang.code) for lang in interface_languages()
             for name in (lang.name, lang.native_name, *lang.aliases)]
    stems += [(_stem(name), code) for reader in interface_languages() for code, name in reader.names.items()
              if is_interface_language(code)]
    for word in words:
        for stem, code in stems:
            if len(stem) >= 4 and word.startswith(stem):
                return code
    return None


def _stem(name: str) -> str:
    folded = _folded(name)
    return folded[:-1] if folded and unicodedata.category(folded[-1]) == "Mn" else folded


def language_of_text(script: Script, text: str) -> str | None:
    """The interface language a message written in ``script`` is in.

    Args:
        script: The message's dominant Indian script (:func:`bot.language.dominant_script`).
        text: The message.

    Returns:
        The only interface language written in that script; when several share it, the one
        whose ``markers`` the message uses most, else the script's usual language if it is
        one of them, else the first of them; None when no interface language uses the script.
    """
    candidates = [lang for lang in interface_languages() if lang.script == script.name]
    if len(candidates) <= 1:
        return candidates[0].code if candidates else None
    words = [_folded(w) for w in WORD.findall(text)]
    scores = {lang.code: sum(w in lang.markers for w in words) for lang in candidates}
    best = max(scores.values())
    if best > 0:
        return next(code for code, score in scores.items() if score == best)
    return script.language if script.language in scores else candidates[0].code


def _folded(text: str) -> str:
    # NFC and case-folded, so "अंग्रेज़ी" matches with its nukta precomposed or not.
    return unicodedata.normalize("NFC", text.strip()).casefold()


def words_in_every_language(*keys: str) -> list[str]:
    """The words learners may type, from every interface language's own texts for ``keys``.

    Each text is a button label (``quiz_true``) or a comma-separated list of words
    (``quiz_true_words``); English is not filled in for a locale that lacks the key, so a
    language added as a file brings its own words and nothing else.

    Args:
        *keys: Locale keys, e.g. ``quiz_button_skip`` and ``skip_words``.

    Returns:
        The words, stripped, English first, empty ones left out.
    """
    texts = (_catalogue(lang.code).get(key) for key in keys for lang in interface_languages())
    return [word.strip() for text in texts if isinstance(text, str) for word in text.split(",") if word.strip()]


def text_keys(prefix: str = "") -> list[str]:
    """The keys of the English locale (every text there is) that start with ``prefix``.

    Args:
        prefix: e.g. ``widget_`` for the web widget's texts.

    Returns:
        The keys, in file order.
    """
    return [key for key in _catalogue(DEFAULT_LANGUAGE) if key.startswith(prefix)]


def t(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The text for ``key`` in ``language`` with ``{placeholders}`` filled.

    Args:
        key: The text's key in the locale files.
        language: The learner's language; English when the key or file is missing.
        **values: The placeholders' values (format specs apply, e.g. ``{day:%d %B %Y}``).

    Returns:
        The text.

    Raises:
        KeyError: the key exists in no catalogue (a programming error).
    """
    text = _catalogue(language).get(key) or _catalogue(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no text for {key!r}")
    return text.format(**values) if values else text
