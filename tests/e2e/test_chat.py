"""Chat is part of the session record, in real browsers against a real daphne process (issue 12, item 2).

Chat sent both ways shows with names and times (HH:MM in the browser's time zone); the agent reloads the viewer and
sees the whole history; the customer reloads and sees it too; after the end it is still there, read-only, and the
transcript downloads (text and JSON) hold every message; the agent e-mails it to the customer. The length limit is
visible and nothing is cut. Screenshots at 1366 and 1000 px wide."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .flows import sign_in_and_start
from .servers import OWNER_NAME
from .test_browser_session import console, product, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e]

ZONE = "America/New_York"  # the browsers' time zone: shown times must be theirs, not the server's UTC
LONG_WORD = "Supercalifragilistic" * 8  # 160 characters without a space: must wrap inside the panel


def lines_of(page) -> list[tuple[str, str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#chat .chat-line')].map(li => [
            li.querySelector('.chat-name').textContent, li.querySelector('time').textContent,
            li.querySelector('.chat-text').textContent])"""
    )


def assert_times_are_local(page) -> None:
    for stamp, shown, title in page.evaluate(
        "() => [...document.querySelectorAll('#chat time')]"
        ".map(t => [t.getAttribute('datetime'), t.textContent, t.title])"
    ):
        local = datetime.fromisoformat(stamp).astimezone(ZoneInfo(ZONE))
        assert shown == local.strftime("%H:%M"), (stamp, shown)
        assert str(local.year) in title and re.search(r"\d{1,2}:\d{2}:\d{2}", title), title


def test_chat_is_kept_shown_after_reloads_and_the_end_and_exported(product, browser, screenshot, console, tmp_path):  # noqa: F811
    agent_context = browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id=ZONE, accept_downloads=True
    )
    agent = agent_context.new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    code = sign_in_and_start(agent, product)
    viewer_url = agent.url

    customer = browser.new_context(viewport={"width": 1000, "height": 800}, timezone_id=ZONE).new_page()
    customer.on("console", lambda m: console.append(("customer", m.type, m.text)))
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: customer.locator("#sharing").is_visible())
    wait_until(lambda: agent.locator("#status").inner_text() == "Active")

    # Both ways, each line with its sender's name; each side sees its own line once the server kept it.
    customer.locator("#chat-text").fill("It says error 42")
    customer.keyboard.press("Enter")
    wait_until(lambda: ("Carl", "It says error 42") in [(n, t) for n, _h, t in lines_of(agent)])
    agent.locator("#chat-text").fill(f"Open Settings, then {LONG_WORD}")
    agent.locator("#chat-send").click()
    wait_until(lambda: len(lines_of(customer)) == 2 and len(lines_of(agent)) == 2)
    assert [(n, t) for n, _h, t in lines_of(customer)] == [
        ("Carl", "It says error 42"),
        (OWNER_NAME, f"Open Settings, then {LONG_WORD}"),
    ]
    assert [(n, t) for n, _h, t in lines_of(agent)] == [(n, t) for n, _h, t in lines_of(customer)]
    assert_times_are_local(agent)
    assert_times_are_local(customer)
    assert (
        agent.locator("#chat .chat-line.mine").count() == 1 and customer.locator("#chat .chat-line.mine").count() == 1
    )
    # The long word wraps inside the chat: no line is wider than the list.
    assert agent.evaluate("() => { const c = document.getElementById('chat'); return c.scrollWidth <= c.clientWidth; }")

    # A visible limit: a counter that warns near 2,000 and refuses (without cutting) past it.
    box = agent.locator("#chat-text")
    box.fill("a" * 1990)
    assert agent.locator("#chat-count").inner_text() == "1,990 / 2,000"
    assert "near" in agent.locator("#chat-count").get_attribute("class")
    box.fill("b" * 2010)
    assert agent.locator("#chat-count").inner_text() == "2,010 / 2,000"
    assert agent.locator("#chat-send").is_disabled()
    assert "10 characters too many" in agent.locator("#chat-note").inner_text()
    assert len(box.input_value()) == 2010  # nothing cut
    screenshot("chat-limit-1366", agent)
    box.fill("")

    # The agent reloads the viewer: the whole history, with names and times.
    agent.goto(viewer_url)
    wait_until(lambda: len(lines_of(agent)) == 2)
    assert [n for n, _h, _t in lines_of(agent)] == ["Carl", OWNER_NAME]
    assert_times_are_local(agent)
    screenshot("chat-viewer-1366", agent)
    agent.set_viewport_size({"width": 1000, "height": 900})
    assert agent.evaluate("() => document.getElementById('chat-text').getBoundingClientRect().width") >= 200
    screenshot("chat-viewer-1000", agent)
    agent.set_viewport_size({"width": 1366, "height": 900})

    # The customer reloads: the same history.
    customer.reload()
    wait_until(lambda: len(lines_of(customer)) == 2)
    assert [n for n, _h, _t in lines_of(customer)] == ["Carl", OWNER_NAME]
    screenshot("chat-customer-1000", customer)

    # One more line after the agent's reload, then the agent ends the session (confirming, if the viewer asks).
    wait_until(lambda: agent.evaluate("() => document.getElementById('viewer').dataset.status") == "active")
    agent.locator("#chat-text").fill("Thanks, all fixed")
    agent.keyboard.press("Enter")
    wait_until(lambda: len(lines_of(customer)) == 3)
    agent.locator("#end").click()
    confirm = agent.locator("#end-confirm")
    if confirm.count() and wait_until(lambda: confirm.is_visible(), timeout=3):
        confirm.click()
    wait_until(lambda: customer.get_by_role("heading", name="This session has ended").is_visible())
    wait_until(lambda: agent.evaluate("() => document.getElementById('viewer').dataset.status") == "ended")
    agent.goto(viewer_url)
    assert [t for _n, _h, t in lines_of(agent)] == [
        "It says error 42",
        f"Open Settings, then {LONG_WORD}",
        "Thanks, all fixed",
    ]
    assert agent.locator("#chat-form").count() == 0 and agent.get_by_text("The chat is closed").is_visible()

    # The transcript downloads hold every message.
    with agent.expect_download() as text_download:
        agent.locator("#chat-transcript-txt").click()
    text = open(text_download.value.path(), encoding="utf-8").read()
    for expected in ("Carl: It says error 42", f"{OWNER_NAME}: Open Settings, then {LONG_WORD}", "Thanks, all fixed"):
        assert expected in text
    with agent.expect_download() as json_download:
        agent.locator("#chat-transcript-json").click()
    document = json.loads(open(json_download.value.path(), encoding="utf-8").read())
    assert [m["sender_name"] for m in document["messages"]] == ["Carl", OWNER_NAME, OWNER_NAME]

    # E-mail the transcript to the customer: a confirmation says where it went.
    agent.get_by_label("E-mail the transcript to the customer").fill("carl@example.com")
    agent.get_by_role("button", name="Send transcript").click()
    wait_until(lambda: agent.get_by_text("was e-mailed to carl@example.com").is_visible())
    screenshot("chat-ended-1366", agent)
    agent.set_viewport_size({"width": 1000, "height": 900})
    screenshot("chat-ended-1000", agent)
    assert not [text for _page, _kind, text in console if "Content Security Policy" in text]
