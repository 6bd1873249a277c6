"""The viewer tells the truth, and customers on any device (issue 12, items 4 and 5), in real Chromium against daphne.

The agent's viewer scrolls the customer's whole screen at actual size; the customer reloading shows on the agent's side
within two seconds and clears when they share again, while the customer's page shows one state at a time; ending asks
for confirmation and leaves no live controls; a browser without screen sharing says so, the agent is told, and the
customer shares the (fake) camera instead.
"""

from __future__ import annotations

import time

import pytest

from .flows import sign_in_and_start
from .test_browser_session import wait_until

pytestmark = [pytest.mark.e2e]

NO_SCREEN_SHARING = "delete MediaDevices.prototype.getDisplayMedia;"


@pytest.fixture
def product(embedded_server) -> str:
    return embedded_server("web").base_url


@pytest.fixture
def console():
    lines: list[tuple[str, str, str]] = []
    yield lines
    for page_name, kind, text in lines:
        print(f"[{page_name} console {kind}] {text}")


def agent_page(browser, product, console, width=1366):
    agent = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    return agent, sign_in_and_start(agent, product)


def customer_page(browser, product, console, code, *, init_script=None, width=1000):
    context = browser.new_context(viewport={"width": width, "height": 760})
    if init_script:
        context.add_init_script(init_script)
    customer = context.new_page()
    customer.on("console", lambda m: console.append(("customer", m.type, m.text)))
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    return customer


def picture(agent) -> str:
    return agent.evaluate("() => document.getElementById('viewer').dataset.picture || ''")


def visible_texts(page, *ids) -> dict[str, bool]:
    return {i: page.locator(f"#{i}").is_visible() for i in ids}


def test_actual_size_scrolls_to_both_edges_and_a_reload_shows_within_two_seconds(product, browser, screenshot, console):
    agent, code = agent_page(browser, product, console)
    customer = customer_page(browser, product, console, code)
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    wait_until(lambda: picture(agent) == "live")
    assert agent.locator("#status").inner_text() == "Active"

    # Actual size: wider than the screen area, and both edges can be scrolled into view.
    agent.get_by_role("button", name="Actual size").click()
    geometry = """() => { const s = document.getElementById('screen-scroll'), v = document.getElementById('screen');
      const a = s.getBoundingClientRect(), b = v.getBoundingClientRect();
      return {sl: s.scrollLeft, max: s.scrollWidth - s.clientWidth, left: b.left - a.left,
              right: (a.left + s.clientWidth) - b.right, width: b.width, natural: v.videoWidth}; }"""
    wait_until(lambda: agent.evaluate(geometry)["width"] == agent.evaluate(geometry)["natural"])
    start = agent.evaluate(geometry)
    assert start["max"] > 0, start  # it overflows: there is something to scroll to
    agent.evaluate("() => { document.getElementById('screen-scroll').scrollLeft = 0; }")
    at_left = agent.evaluate(geometry)
    assert abs(at_left["left"]) <= 1, at_left  # the left edge is at the container's left edge, not cropped
    agent.evaluate("() => { const s = document.getElementById('screen-scroll'); s.scrollLeft = s.scrollWidth; }")
    at_right = agent.evaluate(geometry)
    assert abs(at_right["right"]) <= 1, at_right  # and the right edge can be brought in
    assert agent.locator("#zoom-level").inner_text() == "100%"
    agent.get_by_role("button", name="Zoom in").click()
    assert agent.locator("#zoom-level").inner_text() == "125%"
    assert agent.evaluate(geometry)["width"] == round(start["natural"] * 1.25)
    agent.get_by_role("button", name="Zoom out").click()
    agent.get_by_role("button", name="Zoom out").click()
    assert agent.locator("#zoom-level").inner_text() == "90%"
    agent.get_by_role("button", name="Actual size").click()
    screenshot("viewer-actual-1366", agent)
    agent.get_by_role("button", name="Fit").click()
    assert agent.locator("#zoom-level").inner_text().startswith("Fit")

    # The customer sees one state: sharing.
    assert visible_texts(customer, "sharing-live", "reshare-note") == {"sharing-live": True, "reshare-note": False}

    # The customer reloads: within 2 s the agent's viewer says so over a dimmed last frame.
    customer.reload()
    reloaded_at = time.monotonic()
    # The picture (media stopped) and the status and connection lines (the server saw the customer go)
    # come from two sources; both must say so within the 2 s.
    wait_until(lambda: picture(agent) in ("gone", "paused"), timeout=2.0, interval=0.1)
    wait_until(lambda: agent.locator("#status").inner_text() != "Active", timeout=2.0, interval=0.1)
    wait_until(lambda: agent.locator("#connection").inner_text() != "Connected", timeout=2.0, interval=0.1)
    assert time.monotonic() - reloaded_at <= 2.0
    assert agent.locator("#screen-overlay").is_visible()
    assert "stale" in agent.locator("#screen").get_attribute("class")
    wait_until(lambda: picture(agent) == "paused")
    assert "reloaded" in agent.locator("#overlay-title").inner_text()
    screenshot("viewer-customer-reloaded-1366", agent)

    # The customer's page shows one state only: paused, with the way back.
    wait_until(lambda: customer.locator("#reshare-note").is_visible())
    assert customer.get_by_text("Sharing paused — press Share again").is_visible()
    assert not customer.get_by_text("You are sharing your screen").is_visible()
    screenshot("customer-paused-1000", customer)
    customer.get_by_role("button", name="Share again").click()
    wait_until(lambda: customer.locator("#sharing-live").is_visible())
    assert not customer.locator("#reshare-note").is_visible()
    assert customer.get_by_text("You are sharing your screen with Acme Inc").is_visible()

    # The agent's viewer recovers once media returns.
    wait_until(lambda: picture(agent) == "live", timeout=10)
    assert agent.locator("#screen-overlay").is_hidden()
    assert agent.locator("#status").inner_text() == "Active"
    wait_until(lambda: agent.locator("#connection").inner_text() == "Connected")
    screenshot("viewer-fit-1366", agent)
    agent.set_viewport_size({"width": 1000, "height": 800})
    side = agent.evaluate("() => document.querySelector('.side').getBoundingClientRect().width")
    assert side >= 318, side
    screenshot("viewer-fit-1000", agent)
    screenshot("customer-sharing-1000", customer)

    # End asks first; "Keep the session" changes nothing.
    agent.get_by_role("button", name="End session").click()
    dialog = agent.locator("#end-dialog")
    assert dialog.is_visible() and agent.get_by_text("End this session?").is_visible()
    screenshot("viewer-end-dialog-1000", agent)
    agent.get_by_role("button", name="Keep the session").click()
    assert dialog.is_hidden()
    time.sleep(0.5)
    assert customer.locator("#sharing-live").is_visible()
    agent.get_by_role("button", name="End session").click()
    agent.get_by_role("button", name="End for both of us").click()
    wait_until(lambda: customer.get_by_role("heading", name="This session has ended").is_visible())
    summary = wait_until(lambda: agent.locator("#summary").is_visible() and agent.locator("#summary").inner_text())
    assert "Ended by the agent" in summary
    # The ended session's viewer offers no controls that can do nothing, and says why.
    assert agent.locator("#request-control").count() == 0 and agent.locator("#end").count() == 0
    assert agent.locator("#fit").count() == 0
    assert agent.get_by_text("This session is over").is_visible()
    screenshot("viewer-ended-1000", agent)
    assert not [text for _page, _kind, text in console if "Content Security Policy" in text]


def test_a_browser_without_screen_sharing_offers_the_camera_and_the_agent_is_told(
    product, browser, screenshot, console
):
    agent, code = agent_page(browser, product, console, width=1000)
    phone = customer_page(browser, product, console, code, init_script=NO_SCREEN_SHARING, width=390)
    wait_until(lambda: phone.locator("#no-screen").is_visible())
    assert phone.get_by_text("This browser cannot share its screen").is_visible()
    assert not phone.get_by_role("button", name="Share my screen").is_visible()
    # The agent is told before anything is shared.
    wait_until(lambda: agent.evaluate("() => window.connectViewer.truth.media") == "unavailable")
    screenshot("customer-no-screen-390", phone)

    wait_until(lambda: phone.get_by_role("button", name="Share my camera").is_enabled())
    phone.get_by_role("button", name="Share my camera").click()
    wait_until(lambda: phone.locator("#sharing-live").is_visible())
    assert phone.get_by_text("You are sharing your camera with Acme Inc").is_visible()
    assert not phone.locator("#reshare-note").is_visible()
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    wait_until(lambda: picture(agent) == "live", timeout=10)
    assert agent.evaluate("() => window.connectViewer.truth.media") == "camera"
    wait_until(lambda: "Camera" in agent.locator("#connection").inner_text())
    screenshot("viewer-camera-1000", agent)
    screenshot("customer-camera-390", phone)

    # Reloaded, the phone offers the camera again (there is no screen to share), and the agent sees the truth.
    phone.reload()
    wait_until(lambda: phone.locator("#reshare-note").is_visible())
    assert phone.get_by_role("button", name="Share my camera").is_visible()
    assert not phone.get_by_role("button", name="Share again").is_visible()
    wait_until(lambda: picture(agent) == "unavailable", timeout=3)
    phone.get_by_role("button", name="Share my camera").click()
    wait_until(lambda: picture(agent) == "live", timeout=10)


def test_the_site_root_offers_a_code_field_beside_sign_in(product, page, screenshot):
    for width in (1366, 1000, 390):
        page.set_viewport_size({"width": width, "height": 700})
        page.goto(f"{product}/")
        assert page.get_by_role("heading", name="Join a support session").is_visible()
        assert page.get_by_role("link", name="Sign in").is_visible()
        screenshot(f"home-join-{width}")
    page.get_by_label("Code").fill("000 000 000")
    page.get_by_role("button", name="Join").click()
    assert page.get_by_role("alert").is_visible()
    screenshot("join-unknown-390")
