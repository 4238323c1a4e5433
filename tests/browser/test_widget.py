"""Browser tests of the embeddable chat widget, through the real page server and its proxy.

The upstream is :mod:`rasa_standin` (a scripted stand-in for Rasa's socket.io channel),
so these tests check the widget and the page server in isolation; the full-stack tests
against a trained Rasa are in test_widget_fullstack.py.
"""

from __future__ import annotations

import re

import pytest
from rasa_standin import HINDI_REPLY

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

# Not imported from conftest: "conftest" names whichever test folder's conftest loaded last.
SCREENSHOT_DIR = PROJECT_ROOT / ".state" / "screenshots"

SHADOW = "document.querySelector('[data-tutor-widget]').shadowRoot"


def _expect():
    from playwright.sync_api import expect

    return expect


def open_widget(page, page_url: str) -> None:
    page.goto(page_url + "/")
    page.locator(".tw-launcher").click()
    _expect()(page.locator(".tw-status")).to_have_text("Online", timeout=10_000)


def send(page, text: str) -> None:
    box = page.locator(".tw-input")
    box.fill(text)
    box.press("Enter")


def wait_for(predicate, page, timeout_ms: int = 5000) -> None:
    """Poll a Python-side condition (e.g. what the stand-in received)."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return
        page.wait_for_timeout(50)
    raise AssertionError("condition not met in time")


def test_question_reply_and_buttons_send_payloads(servers, context):
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and csp_errors.append(m.text))
    open_widget(page, servers.base_url)
    expect = _expect()

    send(page, "What is the time limit for an RTI reply?")
    expect(page.locator(".tw-user .tw-bubble").last).to_have_text("What is the time limit for an RTI reply?")
    source = page.locator(".tw-bot .tw-bubble", has_text="Source:")
    expect(source).to_be_visible()
    expect(source.locator("strong")).to_have_text("Source:")
    answer = page.locator(".tw-bot .tw-bubble", has_text="A PIO must reply")
    expect(answer.locator("li")).to_have_count(2)  # "- " lines render as a bullet list
    expect(page.locator(".tw-typing")).to_be_hidden()
    sent = servers.standin.messages[-1]
    assert sent[1] == "What is the time limit for an RTI reply?"
    assert sent[2] == {"language": "en"}

    page.get_by_role("button", name="Quiz me on this").click()
    wait_for(lambda: servers.standin.messages[-1][1] == "/quiz_me_on_this", page)
    expect(page.locator(".tw-user .tw-bubble").last).to_have_text("Quiz me on this")
    page.get_by_role("button", name="A) 30 days").click()
    wait_for(lambda: servers.standin.messages[-1][1] == '/answer_quiz{"quiz_answer":"A"}', page)
    expect(page.locator(".tw-bot .tw-bubble").last).to_contain_text("Correct!")
    # Answered quiz buttons cannot be clicked twice.
    expect(page.get_by_role("button", name="B) 60 days")).to_be_disabled()

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "standin-widget-en.png"))  # the README ones come from the real stack
    assert not [e for e in csp_errors if "Content Security Policy" in e], csp_errors


def test_reload_keeps_session_and_transcript(servers, context):
    page = context.new_page()
    open_widget(page, servers.base_url)
    send(page, "hello tutor")
    _expect()(page.locator(".tw-bot .tw-bubble", has_text="Source:")).to_be_visible()
    session_id = servers.standin.messages[-1][0]
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)

    page.reload()
    # The panel re-opens by itself after a reload and re-joins the same Rasa session.
    _expect()(page.locator(".tw-status")).to_have_text("Online", timeout=10_000)
    assert servers.standin.session_requests[-1] == session_id
    _expect()(page.locator(".tw-user .tw-bubble").first).to_have_text("hello tutor")
    send(page, "second question")
    wait_for(lambda: servers.standin.messages[-1][1] == "second question", page)
    assert servers.standin.messages[-1][0] == session_id


def test_reconnects_after_rasa_restarts(servers, context):
    page = context.new_page()
    open_widget(page, servers.base_url)
    send(page, "before restart")
    _expect()(page.locator(".tw-bot .tw-bubble", has_text="before restart")).to_be_visible()
    session_id = servers.standin.messages[-1][0]

    servers.restart_rasa(down_s=1.5)  # the proxy closes the browser side; retries get 502 meanwhile
    _expect()(page.locator(".tw-status")).to_have_text("Reconnecting…", timeout=5_000)
    _expect()(page.locator(".tw-status")).to_have_text("Online", timeout=15_000)
    assert servers.standin.session_requests[-1] == session_id  # re-joined the same session
    send(page, "after restart")
    _expect()(page.locator(".tw-bot .tw-bubble", has_text="after restart")).to_be_visible()
    assert servers.standin.messages[-1][:2] == (session_id, "after restart")


@pytest.mark.parametrize("where", ["demo page (with CSP)", "cross-origin portal (no CSP)"])
def test_xss_corpus_in_bot_replies_stays_inert(servers, context, where):
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_widget(page, servers.portal_url if "portal" in where else servers.base_url)
    send(page, "xss")
    _expect()(page.locator(".tw-bot .tw-bubble", has_text="stay")).to_be_visible()
    page.wait_for_timeout(500)  # give any injected handler time to fire

    report = page.evaluate(
        f"""() => {{
        const root = {SHADOW};
        const nodes = [...root.querySelectorAll('.tw-bubble *')];
        return {{
          tags: [...new Set(nodes.map(n => n.tagName.toLowerCase()))],
          handlers: nodes.flatMap(n => [...n.attributes].map(a => a.name)).filter(n => n.startsWith('on')),
          hrefs: nodes.filter(n => n.hasAttribute('href') || n.hasAttribute('src')).map(
            n => n.getAttribute('href') || n.getAttribute('src')),
          links: [...root.querySelectorAll('.tw-bubble a[href]')].map(
            a => [a.getAttribute('href'), a.getAttribute('target'), a.getAttribute('rel')]),
          text: [...root.querySelectorAll('.tw-bot .tw-bubble')].map(b => b.textContent).join('\\n'),
          pageScripts: document.querySelectorAll('script').length,
        }};
    }}"""
    )
    assert dialogs == []
    assert report["handlers"] == []
    assert set(report["tags"]) <= {"p", "br", "strong", "em", "a", "ul", "ol", "li", "code"}
    assert all(re.match(r"^(https?:|mailto:)", h) for h in report["hrefs"]), report["hrefs"]
    assert report["links"] == [
        ["https://example.org/rti", "_blank", "noopener noreferrer"],
        ["mailto:trainer@example.org", "_blank", "noopener noreferrer"],
    ]
    # Raw HTML is shown as text, not executed or dropped silently.
    assert "<script>alert('script-tag')</script>" in report["text"]
    assert "<img src=x onerror=alert('img-onerror')>" in report["text"]
    assert report["pageScripts"] == 1  # only the embed tag; vendor tags are removed after loading


def test_hindi_reply_renders_with_devanagari_font(servers, context):
    page = context.new_page()
    open_widget(page, servers.base_url)
    send(page, "hindi")
    bubble = page.locator(".tw-bot .tw-bubble", has_text="सूचना")
    _expect()(bubble).to_have_text(HINDI_REPLY.replace("**", ""))
    # Ask chromium which installed fonts actually drew the glyphs (no tofu boxes).
    cdp = context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
    obj = cdp.send("Runtime.evaluate", {"expression": f"{SHADOW}.querySelector('.tw-bot:last-child .tw-bubble p')"})
    node = cdp.send("DOM.requestNode", {"objectId": obj["result"]["objectId"]})
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    families = {f["familyName"] for f in fonts if f["glyphCount"] > 0}
    assert families & {"Noto Sans Devanagari", "Lohit Devanagari"}, families
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "standin-widget-hi.png"))


def test_hindi_interface_and_theme_on_a_cross_origin_portal(servers, context):
    page = context.new_page()
    page.goto(servers.portal_url + "/?lang=hi")
    page.locator(".tw-launcher").click()
    expect = _expect()
    expect(page.locator(".tw-status")).to_have_text("ऑनलाइन", timeout=10_000)
    expect(page.locator(".tw-root")).to_have_attribute("lang", "hi")
    expect(page.locator(".tw-input")).to_have_attribute("placeholder", "अपने पाठ्यक्रम के बारे में पूछें…")
    expect(page.get_by_role("button", name="भेजें")).to_be_disabled()
    colour = page.evaluate(f"getComputedStyle({SHADOW}.querySelector('.tw-launcher')).backgroundColor")
    assert colour == "rgb(106, 27, 77)"  # data-primary-color
    send(page, "नमस्ते, आरटीआई क्या है?")
    wait_for(lambda: servers.standin.messages[-1][1] == "नमस्ते, आरटीआई क्या है?", page)
    assert servers.standin.messages[-1][2] == {"language": "hi"}
    expect(page.locator(".tw-user .tw-bubble").last).to_have_text("नमस्ते, आरटीआई क्या है?")


def test_keyboard_and_aria(servers, context):
    page = context.new_page()
    page.goto(servers.base_url + "/")
    launcher = page.locator(".tw-launcher")
    _expect()(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    _expect()(launcher).to_have_attribute("aria-expanded", "true")
    active = f"{SHADOW}.activeElement && {SHADOW}.activeElement.className"
    assert page.evaluate(active) == "tw-input"  # opening moves focus to the composer
    log = page.locator(".tw-log")
    _expect()(log).to_have_attribute("role", "log")
    _expect()(log).to_have_attribute("aria-live", "polite")
    _expect()(page.locator(".tw-input")).to_have_attribute("maxlength", "2000")
    page.keyboard.press("Escape")
    _expect()(page.locator(".tw-panel")).to_be_hidden()
    assert page.evaluate(active) == "tw-launcher"  # focus returns to the launcher


def test_page_from_a_foreign_origin_cannot_connect(servers, context):
    """The same page served as http://localhost:PORT has an Origin that is not allowed."""
    page = context.new_page()
    page.goto(servers.base_url.replace("127.0.0.1", "localhost") + "/")
    page.locator(".tw-launcher").click()
    page.wait_for_timeout(1500)
    _expect()(page.locator(".tw-status")).not_to_have_text("Online")
    _expect()(page.locator(".tw-send")).to_be_disabled()
