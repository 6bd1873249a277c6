"""Steps the browser suites share: the owner signs in and starts a session from the dashboard."""

from __future__ import annotations

import re

from .servers import OWNER_EMAIL, OWNER_PASSWORD


def sign_in(page, product: str) -> None:
    """Sign ``page`` (a Playwright page) in as Acme's owner; it is left on the organization's dashboard."""
    page.goto(f"{product}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    page.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    page.wait_for_url(f"{product}/o/acme/")


def sign_in_and_start(agent, product: str, customer_name: str = "Carl") -> str:
    """Sign ``agent`` (a Playwright page) in as Acme's owner, start a session for ``customer_name`` from the
    dashboard and return its 9-digit code; the page is left on the session's viewer."""
    sign_in(agent, product)
    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_label("Customer name (optional)").fill(customer_name)
    agent.get_by_role("button", name="Start session").click()
    return agent.locator("[data-copy]").first.get_attribute("data-copy")
