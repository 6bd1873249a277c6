"""The meeting page with LiveKit configured, against the fake LiveKit server (its room API; no media: LiveKit itself
cannot run here). The page loads the vendored livekit-client, gets its token from the API, the server creates the
room through livekit-api, and when the SFU cannot be reached the page says so while chat keeps working."""

from __future__ import annotations

import re

import pytest

from meetings.tests.conftest import KEY, SECRET
from meetings.tests.fake_livekit import FakeLiveKit

from .flows import sign_in
from .test_browser_session import console, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def livekit():
    fake = FakeLiveKit(KEY, SECRET).start()
    yield fake
    fake.stop()


def test_the_meeting_page_uses_livekit_when_configured(embedded_server, browser, livekit, screenshot, console):  # noqa: F811
    product = embedded_server("web", LIVEKIT_URL=livekit.url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET).base_url
    host = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    host.on("console", lambda m: console.append(("host", m.type, m.text)))
    sign_in(host, product)
    host.goto(f"{product}/o/acme/meetings/")
    assert "up to 4 people" not in host.locator("main").inner_text()
    host.get_by_label("Title").fill("Board review")
    host.get_by_role("button", name="Start now").click()
    host.wait_for_url(re.compile(r"/meetings/mtg_[^/]+/room$"))
    assert host.evaluate("() => typeof window.LivekitClient.Room") == "function"
    wait_until(lambda: "media server cannot be reached" in host.locator("#meeting-note").inner_text(), timeout=40)
    created = livekit.of("CreateRoom")
    assert len(created) == 1 and created[0].request.name.startswith("mtg_")
    host.locator("#chat-text").fill("Video is down, chat works")
    host.locator("#chat-text").press("Enter")
    wait_until(lambda: "Video is down, chat works" in host.locator("#chat").inner_text())
    screenshot("meeting-livekit-unreachable-1366", host)
    assert not [text for _page, _kind, text in console if "Content Security Policy" in text]
