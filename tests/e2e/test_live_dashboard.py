"""Live pages in a real browser against a real daphne process: the dashboard shows a session started elsewhere (the
API, another client) and the history shows it ended, without a reload, within 2 s."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from .servers import OWNER_EMAIL, OWNER_PASSWORD
from .test_browser_session import wait_until

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def product(embedded_server) -> str:
    return embedded_server("web").base_url


def api(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "X-Organization": "acme"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the local test server)
        return json.loads(response.read() or b"{}")


def sign_in(page, product: str) -> None:
    page.goto(f"{product}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    page.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    page.wait_for_url(f"{product}/o/acme/")


def within(seconds: float, check) -> float:
    """How long ``check`` took to hold; fails past ``seconds``."""
    started = time.monotonic()
    wait_until(check, timeout=seconds, interval=0.05)
    return time.monotonic() - started


def test_dashboard_and_history_follow_sessions_live(product, browser, screenshot):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Europe/Paris")
    dashboard = context.new_page()
    sign_in(dashboard, product)
    dashboard.goto(f"{product}/o/acme/sessions/")
    wait_until(lambda: dashboard.locator("#live-page").get_attribute("data-live-state") == "live")
    history = context.new_page()
    history.set_viewport_size({"width": 1000, "height": 900})
    history.goto(f"{product}/o/acme/sessions/history/")
    wait_until(lambda: history.locator("#live-page").get_attribute("data-live-state") == "live")
    # The browser's zone was detected and stored; the pages' times follow it, and say so.
    wait_until(lambda: "Europe/Paris" in history.locator("#history-count").inner_text())

    token = api(
        product,
        "POST",
        "/api/v1/auth/token",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "device": {"name": "e2e", "platform": "linux"}},
    )["access_token"]
    session = api(product, "POST", "/api/v1/sessions", {"customer_name": "Live Lena"}, token=token)
    row = f'#live-panel tr[data-session="{session["id"]}"]'
    took = within(2.0, lambda: dashboard.locator(row).count() == 1)
    assert "Live Lena" in dashboard.locator(row).inner_text()
    assert dashboard.locator("#figure-today").inner_text() == "1"
    within(2.0, lambda: history.locator(f'#history tr[data-session="{session["id"]}"]').count() == 1)
    screenshot("live-dashboard-1366", dashboard)

    api(product, "POST", f"/api/v1/sessions/{session['id']}/end", {}, token=token)
    ended_row = f'#history tr[data-session="{session["id"]}"]'
    within(2.0, lambda: dashboard.locator(f"#recent-panel {ended_row}").count() == 1)
    assert dashboard.locator(row).count() == 0  # no longer live
    within(2.0, lambda: history.locator(ended_row).get_attribute("data-status") == "ended")
    assert "Ended by the agent" in history.locator(ended_row).inner_text()
    assert "Europe/Paris" in dashboard.locator("#recent-panel").inner_text()
    screenshot("live-history-1000", history)
    dashboard.set_viewport_size({"width": 1000, "height": 900})
    screenshot("live-dashboard-1000", dashboard)
    history.set_viewport_size({"width": 1366, "height": 900})
    screenshot("live-history-1366", history)
    print(f"new session shown on the dashboard after {took:.2f} s")
    context.close()


def test_the_viewers_session_log_follows_the_session_live(product, browser, screenshot):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    viewer = context.new_page()
    sign_in(viewer, product)
    viewer.goto(f"{product}/o/acme/sessions/")
    viewer.get_by_label("Customer name (optional)").fill("Carl")
    viewer.get_by_role("button", name="Start session").click()
    viewer.wait_for_url(re.compile(r".*/sessions/ses_[a-z0-9]+/$"))
    wait_until(lambda: viewer.locator("#session-log tr[data-type=created]").count() == 1)
    code = viewer.locator("[data-copy]").first.get_attribute("data-copy")
    api(product, "POST", "/api/v1/join", {"code": code, "name": "Carl Customer"})  # the customer, elsewhere
    joined = "#session-log tr[data-type=customer_joined]"
    within(2.0, lambda: viewer.locator(joined).count() == 1)
    assert "Customer entered the code" in viewer.locator(joined).inner_text()
    assert "Carl" in viewer.locator(joined).inner_text()  # who, by name
    assert "Alice Agent" in viewer.locator("#session-log tr[data-type=created]").inner_text()
    screenshot("live-viewer-log-1366", viewer)
    viewer.set_viewport_size({"width": 1000, "height": 900})
    screenshot("live-viewer-log-1000", viewer)
    context.close()
