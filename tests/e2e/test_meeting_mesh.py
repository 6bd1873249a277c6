"""A meeting without an SFU, in real browsers against a real daphne process on embedded defaults (issue 15).

The host starts a meeting from the Meetings page; two guests open the invite link, wait in the lobby and are admitted;
each of the three pages receives the other two videos over the mesh and the chat reaches everyone. The host removes
one guest, whose page says so and who cannot come back; the meeting then fills to four and a fifth is refused in
words. Screenshots at 1366 and 1000 px wide."""

from __future__ import annotations

import re

import pytest

from .flows import sign_in
from .test_browser_session import console, product, wait_until  # noqa: F401, F811  (fixtures)

pytestmark = [pytest.mark.e2e]


def playing_videos(page) -> int:
    """Remote tiles whose video has decoded frames (the fake camera's picture)."""
    return page.evaluate(
        "() => [...document.querySelectorAll('#grid .tile:not(.me) video')]"
        ".filter(v => v.videoWidth > 0 && v.readyState >= 2).length"
    )


def people(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#people li > span:first-child')].map(s => s.textContent)"
    )


def guest_asks(browser, invite_url: str, name: str, lines: list, width: int = 1000):
    page = browser.new_context(viewport={"width": width, "height": 760}).new_page()
    page.on("console", lambda m: lines.append((name, m.type, m.text)))
    page.goto(invite_url)
    wait_until(lambda: page.locator("#guest-who").is_visible())
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Ask to join").click()
    return page


def test_three_browsers_meet_without_an_sfu(product, browser, screenshot, console):  # noqa: F811
    host = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    host.on("console", lambda m: console.append(("host", m.type, m.text)))
    sign_in(host, product)
    host.get_by_role("link", name="Meetings", exact=True).click()
    assert "up to 4 people" in host.locator("main").inner_text()
    screenshot("meetings-list-1366", host)
    host.get_by_label("Title").fill("Escalation huddle")
    host.get_by_role("button", name="Start now").click()
    host.wait_for_url(re.compile(r"/meetings/mtg_[^/]+/room$"))
    wait_until(lambda: host.locator("#connection").inner_text() == "Connected")
    invite_url = host.locator("#invite-link").inner_text()
    assert "/m/join#mti_" in invite_url

    gus = guest_asks(browser, invite_url, "Gus Guest", console)
    assert gus.locator("#guest-title").inner_text() == "Escalation huddle"
    assert gus.locator("#guest-who").inner_text() == "Alice Agent of Acme Inc invites you."
    wait_until(lambda: gus.locator("#guest-waiting").is_visible())
    wait_until(lambda: "Gus Guest" in host.locator("#lobby").inner_text())
    host.locator("#lobby li", has_text="Gus Guest").get_by_role("button", name="Admit").click()
    gina = guest_asks(browser, invite_url, "Gina Guest", console)
    wait_until(lambda: "Gina Guest" in host.locator("#lobby").inner_text())
    host.locator("#lobby li", has_text="Gina Guest").get_by_role("button", name="Admit").click()

    # Each of the three receives the other two videos.
    for page in (host, gus, gina):
        wait_until(lambda page=page: playing_videos(page) == 2, timeout=40)
    assert sorted(people(gus)) == sorted(["Alice Agent", "Gus Guest (You)", "Gina Guest"])
    assert "4" in host.locator("#meeting-note").inner_text()  # the mesh's size is said

    gina.locator("#chat-text").fill("Can everyone see my camera?")
    gina.locator("#chat-text").press("Enter")
    for page in (host, gus, gina):
        wait_until(lambda page=page: "Can everyone see my camera?" in page.locator("#chat").inner_text())
    gus.get_by_role("button", name="Raise hand").click()
    wait_until(lambda: "Hand raised" in host.locator("#people").inner_text())
    screenshot("meeting-room-host-1366", host)
    screenshot("meeting-room-guest-1000", gus)

    # The host removes Gina: her page says so, the others drop her, and she cannot come back.
    host.locator("#people li", has_text="Gina Guest").get_by_role("button", name="Remove").click()
    wait_until(lambda: gina.locator("#over").is_visible())
    assert "removed" in gina.locator("#over-title").inner_text().lower()
    for page in (host, gus):
        wait_until(lambda page=page: playing_videos(page) == 1)
    assert "Gina Guest" not in host.locator("#people").inner_text()
    gina.reload()
    wait_until(lambda: "removed you" in gina.locator("#guest-error").inner_text())
    assert gina.locator("#guest-form").is_hidden()  # nothing to ask for again: the page says she is out
    screenshot("meeting-removed-1000", gina)

    # Four fill the mesh (a guest waiting in the lobby counts): the fifth is told why, and what would help.
    for name in ("Theo Third", "Tara Fourth"):  # alice and Gus are in; these two wait in the lobby
        waiting = guest_asks(browser, invite_url, name, console)
        wait_until(lambda waiting=waiting: waiting.locator("#guest-waiting").is_visible())
    fifth = guest_asks(browser, invite_url, "Fifi Fifth", console)
    wait_until(lambda: fifth.locator("#guest-error").is_visible())
    refusal = fifth.locator("#guest-error").inner_text()
    assert "4 participants" in refusal and "SFU" in refusal, refusal
    screenshot("meeting-full-1000", fifth)

    # The host ends it for everyone.
    host.once("dialog", lambda dialog: dialog.accept())
    host.get_by_role("button", name="End for all").click()
    for page in (host, gus):
        wait_until(lambda page=page: page.locator("#over").is_visible())
        assert "ended" in page.locator("#over-title").inner_text()
