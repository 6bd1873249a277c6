"""Steps the browser suites share: the owner signs in and starts a session from the dashboard."""

from __future__ import annotations

import re

from .servers import OWNER_EMAIL, OWNER_PASSWORD


def sign_in_and_start(agent, product: str, customer_name: str = "Carl") -> str:
    """Sign ``agent`` (a Playwright page) in as Acme's owner, start a session for ``customer_name`` from the
    dashboard and return its 9-digit code; the page is left on the session's viewer."""
    agent.goto(f"{product}/accounts/login/")
    agent.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    agent.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    agent.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    agent.wait_for_url(f"{product}/o/acme/")
    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_label("Customer name (optional)").fill(customer_name)
    agent.get_by_role("button", name="Start session").click()
    return agent.locator("[data-copy]").first.get_attribute("data-copy")
