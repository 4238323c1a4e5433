""""Export my data" in the widget: the file payload becomes a download (real page server, Chromium).

The upstream is the scripted socket.io stand-in (tests/browser/rasa_standin.py), which emits
what Rasa's socket.io channel emits for ``action_export_my_data``.
"""

from __future__ import annotations

import json

import pytest
from rasa_standin import EXPORT_FILE
from test_widget import open_widget, send

pytestmark = pytest.mark.browser


def test_the_export_is_offered_as_a_download_and_not_saved_in_the_transcript(servers, context):
    from playwright.sync_api import expect

    page = context.new_page()
    open_widget(page, servers.base_url)
    send(page, "export please")
    link = page.locator(".tw-bot a.tw-download")
    expect(link).to_have_text("Download: my-tutor-data-2026-12-06.json", timeout=10_000)
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "my-tutor-data-2026-12-06.json"
    with open(download.path(), encoding="utf-8") as handle:
        assert json.load(handle) == json.loads(EXPORT_FILE["content"])  # Hindi intact
    stored = page.evaluate("() => JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert "राजस्व" not in stored and "Here is all the data" in stored
