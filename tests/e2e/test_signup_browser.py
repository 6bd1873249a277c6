"""Self-service start in a real browser against a real server process with open sign-up: a visitor signs up, confirms
the address from the e-mail (the console backend writes it to the server's log), names the organization, sees the
trial and the getting-started checklist, and starts a first session inside the trial."""

from __future__ import annotations

import re

import pytest

from .test_browser_session import wait_until

pytestmark = [pytest.mark.e2e]

EMAIL = "nina@initech.test"
PASSWORD = "a-long-new-passphrase-77"
WIDE = {"width": 1366, "height": 900}
NARROW = {"width": 1000, "height": 900}


def confirmation_path(mail_text: str) -> str | None:
    """The path of the confirmation link in e-mail sent to EMAIL (the console backend prints it to the server's log)."""
    if f"To: {EMAIL}" not in mail_text:
        return None
    found = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s/]+/)", mail_text)
    return found.group(1) if found else None


@pytest.fixture
def server(embedded_server):
    return embedded_server("signup", CONNECT_OPEN_SIGNUP="1")


def test_visitor_signs_up_names_the_organization_and_starts_a_session_in_the_trial(server, browser, screenshot):
    signup_flow(browser, server.base_url, lambda: confirmation_path(server.log.read_text(errors="replace")), screenshot)


def signup_flow(browser, product: str, read_confirmation_path, screenshot) -> None:
    """The visitor's whole path; ``read_confirmation_path()`` finds the e-mailed link's path once it was sent."""
    page = browser.new_context(viewport=WIDE).new_page()

    page.goto(f"{product}/accounts/login/")
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url(f"{product}/accounts/signup/")
    assert page.get_by_role("heading", name="Create your account").is_visible()
    screenshot("signup-1366", page)
    page.set_viewport_size(NARROW)
    screenshot("signup-1000", page)
    page.set_viewport_size(WIDE)

    page.get_by_label(re.compile("Email", re.I)).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile(r"Password \(again\)", re.I)).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("heading", name="Check your e-mail").is_visible()
    screenshot("verification-sent-1366", page)

    path = wait_until(read_confirmation_path)
    page.goto(product + path)
    assert page.get_by_text(EMAIL).is_visible()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{product}/start/")
    page.set_viewport_size(NARROW)
    assert page.get_by_role("heading", name="Name your organization").is_visible()
    screenshot("org-new-1000", page)

    # A taken address is explained, and the form keeps what was typed.
    page.get_by_label("Organization name").fill("Initech")
    page.get_by_label("Web address (optional)").fill("acme")
    page.get_by_role("button", name="Create organization").click()
    assert page.get_by_text("already exists; choose another").is_visible()
    assert page.get_by_label("Organization name").input_value() == "Initech"
    screenshot("org-new-error-1000", page)

    page.get_by_label("Web address (optional)").fill("")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_url(f"{product}/o/initech/")
    page.set_viewport_size(WIDE)
    assert page.get_by_role("heading", name="Initech").is_visible()
    assert page.get_by_text("Business trial — 14 days left").is_visible()
    checklist = page.get_by_role("region", name="Getting started")
    assert checklist.get_by_role("link", name="Invite an agent").is_visible()
    assert checklist.get_by_role("link", name="Start a first support session").is_visible()
    screenshot("dashboard-checklist-1366", page)
    page.set_viewport_size(NARROW)
    screenshot("dashboard-checklist-1000", page)
    page.set_viewport_size(WIDE)

    # The first session, inside the trial.
    checklist.get_by_role("link", name="Start a first support session").click()
    page.wait_for_url(f"{product}/o/initech/sessions/")
    page.get_by_label("Customer name (optional)").fill("Carl")
    page.get_by_role("button", name="Start session").click()
    code = page.locator("[data-copy]").first.get_attribute("data-copy")
    assert re.fullmatch(r"\d{9}", code)

    page.goto(f"{product}/o/initech/")
    checklist = page.get_by_role("region", name="Getting started")
    assert checklist.get_by_text("Start a first support session (done)").count() == 1
    assert checklist.get_by_role("link", name="Start a first support session").count() == 0
    screenshot("dashboard-checklist-half-1366", page)

    checklist.get_by_role("link", name="Invite an agent").click()
    page.wait_for_url(f"{product}/o/initech/members/")
    page.get_by_label("E-mail address").fill("dave@initech.test")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to dave@initech.test.").is_visible()

    page.goto(f"{product}/o/initech/")
    assert page.get_by_role("heading", name="Initech").is_visible()
    assert page.get_by_role("region", name="Getting started").count() == 0
    assert page.get_by_text("Business trial — 14 days left").is_visible()
    screenshot("dashboard-done-1366", page)


def test_closed_sign_up_offers_no_form(embedded_server, browser, screenshot):
    product = embedded_server("closed").base_url
    page = browser.new_context(viewport=WIDE).new_page()
    page.goto(f"{product}/accounts/login/")
    assert page.get_by_role("link", name="Create an account").count() == 0
    page.goto(f"{product}/accounts/signup/")
    assert page.get_by_role("heading", name="Sign-up is closed").is_visible()
    assert page.get_by_label("Password", exact=True).count() == 0
    screenshot("signup-closed-1366", page)
