"""Localised texts for messages composed in code (actions), one YAML file per language.

Rasa's own responses are localised in ``domain.yml`` with slot-conditioned variations;
texts that actions build live in ``bot/locales/<lang>.yml``. A missing key or language
falls back to English, so adding a language never breaks a reply.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "en"


@cache
def _catalogue(language: str) -> dict[str, str]:
    path = LOCALES / f"{language}.yml"
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def available_languages() -> list[str]:
    """Language codes that have a locale file."""
    return sorted(p.stem for p in LOCALES.glob("*.yml"))


def t(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The text for ``key`` in ``language`` with ``{placeholders}`` filled.

    Raises:
        KeyError: the key exists in no catalogue (a programming error).
    """
    text = _catalogue(language).get(key) or _catalogue(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no text for {key!r}")
    return text.format(**values) if values else text
