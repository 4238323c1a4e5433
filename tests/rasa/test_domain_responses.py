"""The project's ``domain.yml`` responses through Rasa's own response filler, in the Rasa environment.

Run by ``make test-rasa``. Rasa fills ``{slot}`` placeholders in every response's text and
buttons; a JSON payload such as ``/choose_language{"language": "hi"}`` looks like one, so
Rasa logged an ERROR (``interpolator.interpolate.text``) each time it sent such a button.
The payloads are written with doubled braces, which the filler turns back into single ones.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from structlog.testing import capture_logs

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "domain.yml"
LOCALES = Path(__file__).resolve().parents[2] / "bot" / "locales"
#: The interface languages (one locale file each); domain.yml must speak every one.
LANGUAGES = sorted(path.stem for path in LOCALES.glob("*.yml"))


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(DOMAIN_FILE))


def _tracker(domain: Domain, language: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events(f"learner-{language}", [], slots=domain.slots)
    tracker.update(SlotSet("language", language))
    return tracker


def _render_all(domain: Domain, language: str) -> dict[str, dict]:
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    tracker = _tracker(domain, language)

    async def render() -> dict[str, dict]:
        return {name: await nlg.generate(name, tracker, "rest") for name in domain.responses}

    return asyncio.run(render())


def test_the_language_slot_takes_every_interface_language(domain: Domain) -> None:
    [slot] = [slot for slot in domain.slots if slot.name == "language"]
    assert sorted(slot.values) == sorted([*LANGUAGES, "__other__"])


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_response_has_its_own_text_in_every_language(domain: Domain, language: str) -> None:
    english, own = _render_all(domain, "en"), _render_all(domain, language)
    assert [name for name in english if own[name]["text"] == english[name]["text"]] == []
    assert all(len(own[name].get("buttons") or []) == len(english[name].get("buttons") or []) for name in english)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_response_renders_without_an_error_log(domain: Domain, language: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with capture_logs() as structured, caplog.at_level(logging.WARNING):
        rendered = _render_all(domain, language)
    assert rendered and all(rendered.values())
    errors = [entry for entry in structured if entry.get("log_level") in ("error", "critical", "exception")]
    assert errors == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_buttons_reach_the_learner_as_parsable_intents(domain: Domain, language: str) -> None:
    """The payloads sent are single-braced and Rasa parses them to the intent and entity."""
    rendered = _render_all(domain, language)
    payloads = [b["payload"] for name in ("utter_help", "utter_choose_language")
                for b in rendered[name].get("buttons", []) if b["payload"].startswith("/choose_language")]
    # Help's button opens the language menu (no language named: action_choose_language lists them).
    assert payloads and set(payloads) <= {"/choose_language"} | {f'/choose_language{{"language": "{code}"}}'
                                                                  for code in LANGUAGES}
    handler = RegexMessageHandler()
    for payload in set(payloads):
        parsed = handler.process([Message.build(text=payload)], domain)[0]
        assert parsed.get("intent")["name"] == "choose_language"
        named = [payload.split('"')[-2]] if "{" in payload else []
        assert [e["value"] for e in parsed.get("entities")] == named
