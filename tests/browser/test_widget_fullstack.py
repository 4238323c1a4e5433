"""The widget in Debian chromium against the REAL stack: page server, Rasa, action server.

Unlike test_widget.py (scripted stand-in for Rasa), every reply here comes from the
trained model and the knowledge base: a cited answer, a "Show more" button, the
conversation surviving a reload, the language switch making the tutor answer in Hindi,
a hostile knowledge-base document staying inert, and a foreign origin being refused.
Screenshots for the README are taken here (``.state/screenshots/widget-{en,hi}.png``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

# Not imported from conftest: "conftest" names whichever test folder's conftest loaded last.
SCREENSHOT_DIR = PROJECT_ROOT / ".state" / "screenshots"

SHADOW = "document.querySelector('[data-tutor-widget]').shadowRoot"
RTI_QUESTION = "What is the fee for an RTI application?"
ANSWER_TIMEOUT_MS = 60_000


def _expect():
    from playwright.sync_api import expect

    return expect


def base_url(stack) -> str:
    return f"http://127.0.0.1:{stack.web_port}"


def open_widget(page, url: str, online: str = "Online") -> None:
    page.goto(url + "/")
    page.locator(".tw-launcher").click()
    _expect()(page.locator(".tw-status")).to_have_text(online, timeout=20_000)


def send(page, text: str) -> None:
    box = page.locator(".tw-input")
    box.fill(text)
    box.press("Enter")


def bot_bubble(page, text: str):
    return page.locator(".tw-bot .tw-bubble", has_text=text)


def test_cited_answer_button_reload_and_hindi_switch(stack, context) -> None:
    expect = _expect()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    open_widget(page, base_url(stack))

    # A question about a module gets the cited answer from the knowledge base.
    send(page, RTI_QUESTION)
    cited = bot_bubble(page, "Source:").last
    expect(cited).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(cited).to_contain_text("Right to Information for Public Information Officers")
    expect(cited.locator("strong", has_text="Source:")).to_have_count(1)
    assert "10" in page.locator(".tw-log").inner_text()
    expect(page.get_by_role("button", name="Show more")).to_be_enabled()
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.locator(".tw-panel").screenshot(path=str(SCREENSHOT_DIR / "widget-en.png"))

    # The "Show more" button goes through the proxy to Rasa and pages to the next passage.
    page.get_by_role("button", name="Show more").last.click()
    expect(bot_bubble(page, "next passage")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(".tw-typing")).to_be_hidden(timeout=ANSWER_TIMEOUT_MS)

    # Reload: the transcript is back, and Rasa still has the same conversation (the
    # server-issued session came back with the token): "show more" continues the RTI answer.
    page.reload()
    expect(page.locator(".tw-status")).to_have_text("Online", timeout=20_000)
    expect(page.locator(".tw-user .tw-bubble").first).to_have_text(RTI_QUESTION)
    passages_before = bot_bubble(page, "next passage").count()
    send(page, "show more")
    expect(bot_bubble(page, "next passage")).to_have_count(passages_before + 1, timeout=ANSWER_TIMEOUT_MS)

    # The language switch: interface in Hindi, Rasa told, and the tutor answers in Hindi.
    page.locator(".tw-lang").select_option("hi")
    expect(page.locator(".tw-root")).to_have_attribute("lang", "hi")
    expect(page.locator(".tw-input")).to_have_attribute("placeholder", "अपने पाठ्यक्रम के बारे में पूछें…")
    expect(bot_bubble(page, "अब मैं हिंदी में उत्तर दूँगा")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    send(page, "आरटीआई आवेदन का शुल्क कितना है?")
    hindi = bot_bubble(page, "स्रोत:").last
    expect(hindi).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(".tw-typing")).to_be_hidden(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".tw-panel").screenshot(path=str(SCREENSHOT_DIR / "widget-hi.png"))
    # An English question now also gets the Hindi frame (the choice is remembered).
    send(page, RTI_QUESTION)
    expect(bot_bubble(page, "स्रोत:")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    assert not [e for e in errors if "Content Security Policy" in e], errors


XSS_DOC = """---
title: "Zorblax canteen coupon rules"
language: en
---
# Zorblax canteen coupon rules

## 1. Zorblax coupon scripts
The Zorblax canteen coupon is issued monthly <script>alert('kb-script')</script> by the welfare section.
Zorblax coupon images: <img src=x onerror=alert('kb-img')> are not accepted at the counter.
Zorblax coupon links: [claim your coupon](javascript:alert('kb-link')) and [mixed](JaVaScRiPt:alert('kb-case')).
Zorblax coupon encoded: [enc](javascript&#58;alert('kb-entity')) and <a href="javascript:alert('kb-a')">raw</a>.
Zorblax coupon svg: <svg onload=alert('kb-svg')></svg> and <iframe src="javascript:alert('kb-iframe')"></iframe>.
Zorblax coupon help: [welfare portal](https://example.org/zorblax).
"""


def _rest_answer(stack, question: str) -> str:
    body = json.dumps({"sender": f"xss-probe-{time.monotonic_ns()}", "message": question}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return "\n".join(m.get("text", "") for m in json.loads(resp.read()))


def test_hostile_knowledge_base_document_stays_inert(stack, context) -> None:
    question = "What are the Zorblax canteen coupon rules?"
    doc = stack.kb_dir / "modules" / "zorblax-xss.md"
    doc.write_text(XSS_DOC, encoding="utf-8")
    try:
        deadline = time.monotonic() + 120  # the watcher re-indexes the folder live
        while "Zorblax" not in _rest_answer(stack, question):
            assert time.monotonic() < deadline, "the new document was not served within 120 s"
            time.sleep(2)
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        open_widget(page, base_url(stack))
        send(page, question)
        answer = bot_bubble(page, "Zorblax").last
        _expect()(answer).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_timeout(1000)  # give any injected handler time to fire
        report = page.evaluate(
            f"""() => {{
            const root = {SHADOW};
            const nodes = [...root.querySelectorAll('.tw-bubble *')];
            return {{
              tags: [...new Set(nodes.map(n => n.tagName.toLowerCase()))],
              handlers: nodes.flatMap(n => [...n.attributes].map(a => a.name)).filter(n => n.startsWith('on')),
              urls: nodes.filter(n => n.hasAttribute('href') || n.hasAttribute('src')).map(
                n => n.getAttribute('href') || n.getAttribute('src')),
              text: [...root.querySelectorAll('.tw-bot .tw-bubble')].map(b => b.textContent).join('\\n'),
            }};
        }}"""
        )
    finally:
        doc.unlink()
    assert dialogs == []
    assert report["handlers"] == []
    assert set(report["tags"]) <= {"p", "br", "strong", "em", "a", "ul", "ol", "li", "code"}
    assert all(re.match(r"^(https?:|mailto:)", u) for u in report["urls"]), report["urls"]
    # The hostile passage really reached the browser (as text), and was cited.
    assert "Zorblax canteen coupon" in report["text"]
    assert re.search(r"alert\('kb-(script|img|link|case|entity|a|svg|iframe)'\)", report["text"]), report["text"]
    assert "Source:" in report["text"]


def test_page_on_a_foreign_origin_is_refused(stack, context) -> None:
    """The same page served as http://localhost:PORT: an Origin the stack does not allow."""
    page = context.new_page()
    page.goto(base_url(stack).replace("127.0.0.1", "localhost") + "/")
    with page.expect_response(lambda r: r.url.endswith("/session")) as response:
        page.locator(".tw-launcher").click()
    assert response.value.status == 403  # no session is issued to a foreign origin
    page.wait_for_timeout(1500)
    _expect()(page.locator(".tw-status")).not_to_have_text("Online")
    _expect()(page.locator(".tw-send")).to_be_disabled()
