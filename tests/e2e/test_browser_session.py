"""The whole attended-support flow in real browsers, against a real daphne process.

The agent signs in and starts a session; a second browser context joins with the code and consents; the agent's
video element plays the shared screen; ending the session shows "ended" on both sides and the history shows
its duration.
"""

from __future__ import annotations

import re
import time

import pytest

from .servers import OWNER_EMAIL, OWNER_PASSWORD

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def product(embedded_server) -> str:
    """The product on embedded defaults in its own daphne process and SQLite file, with Acme and alice."""
    server = embedded_server("web")
    return server.base_url


def wait_until(check, timeout=20.0, interval=0.25):
    """Poll from Python: the pages' CSP forbids the eval that Playwright's in-page waits rely on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def console():
    """Every console line of the pages, printed after the test (pytest shows it when the test failed)."""
    lines: list[tuple[str, str, str]] = []
    yield lines
    for page_name, kind, text in lines:
        print(f"[{page_name} console {kind}] {text}")


def test_agent_sees_the_customers_screen_and_both_see_the_end(product, browser, screenshot, console):
    agent = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    agent.goto(f"{product}/accounts/login/")
    agent.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    agent.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    agent.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    agent.wait_for_url(f"{product}/o/acme/")
    agent.get_by_role("link", name="Sessions", exact=True).click()
    agent.get_by_label("Customer name (optional)").fill("Carl")
    agent.get_by_role("button", name="Start session").click()
    code = agent.locator("[data-copy]").first.get_attribute("data-copy")
    assert re.fullmatch(r"\d{9}", code)

    customer = browser.new_context(viewport={"width": 1000, "height": 760}).new_page()
    customer.on("console", lambda m: console.append(("customer", m.type, m.text)))
    customer.goto(f"{product}/join")
    customer.get_by_label("Code").fill(f"{code[:3]} {code[3:6]} {code[6:]}")
    customer.get_by_role("button", name="Continue").click()
    assert customer.get_by_text("Alice Agent from Acme Inc would like to see your screen").is_visible()
    customer.get_by_role("button", name="Continue").click()
    assert customer.get_by_role("heading", name="Share your screen with Acme Inc?").is_visible()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: customer.locator("#sharing").is_visible())
    assert customer.get_by_text("You are sharing your screen with Acme Inc").is_visible()

    width = wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    assert width > 0
    assert agent.locator("#status").inner_text() == "Active"
    screenshot("viewer-active", agent)

    customer.get_by_label("Message").fill("It says error 42")
    customer.get_by_role("button", name="Send", exact=True).click()
    wait_until(lambda: agent.get_by_text("It says error 42").is_visible())
    screenshot("customer-sharing", customer)

    time.sleep(1.2)  # a session that lasted a moment has a duration to show
    agent.get_by_role("button", name="End session").click()
    agent.get_by_role("button", name="End for both of us").click()  # the confirmation dialog
    wait_until(lambda: customer.get_by_role("heading", name="This session has ended").is_visible())
    summary = wait_until(lambda: agent.locator("#summary").is_visible() and agent.locator("#summary").inner_text())
    assert "Ended by the agent" in summary
    agent.get_by_role("link", name="Sessions", exact=True).click()
    row = agent.locator("#history tbody tr").first
    assert "Ended by the agent" in row.inner_text()
    assert re.fullmatch(r"0:0[1-9]", row.locator(".duration").inner_text())
    screenshot("sessions-history", agent)
    assert not [text for _page, _kind, text in console if "Content Security Policy" in text]


def test_customer_stopping_ends_the_session_for_the_agent(product, browser, console):
    agent = browser.new_context().new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    agent.goto(f"{product}/accounts/login/")
    agent.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    agent.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    agent.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    agent.wait_for_url(f"{product}/o/acme/")
    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_role("button", name="Start session").click()
    code = agent.locator("[data-copy]").first.get_attribute("data-copy")

    customer = browser.new_context().new_page()
    customer.on("console", lambda m: console.append(("customer", m.type, m.text)))
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    customer.get_by_role("button", name="Share my screen").click()
    try:
        wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    except AssertionError:
        print(
            "CUSTOMER",
            customer.evaluate("""() => [document.getElementById('customer').dataset.status,
            ...['consent','waiting','sharing','ended'].map(id => id + ':' + !document.getElementById(id).hidden),
            document.getElementById('share').disabled, document.getElementById('connection').textContent]"""),
        )
        print(
            "AGENT",
            agent.evaluate("""() => [document.getElementById('viewer').dataset.status,
            document.getElementById('status').textContent, document.getElementById('connection').textContent,
            window.connectViewer.pc && window.connectViewer.pc.connectionState]"""),
        )
        raise
    customer.get_by_role("button", name="Stop sharing").click()
    summary = wait_until(lambda: agent.locator("#summary").is_visible() and agent.locator("#summary").inner_text())
    assert "The customer stopped sharing" in summary
    assert customer.get_by_role("heading", name="This session has ended").is_visible()
