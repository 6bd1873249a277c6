"""An owner reads the audit log in a browser: a change they just made is there, filters narrow it, verification
answers, and the page reads well at a laptop's and a small window's width."""

import re

import pytest

from audit.services import audit_record
from orgs.tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill(email)
    page.get_by_label(re.compile("Password", re.I)).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    page.wait_for_url(f"{base}/o/acme/")


def test_owner_reads_filters_and_verifies_the_log(live_server, page, screenshot, acme, alice, bob):
    for i in range(3):
        audit_record(organization=acme, action="session.created", actor=bob, data={"i": i})
    sign_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/o/acme/members/")
    row = page.get_by_role("row").filter(has_text="bob@acme.test")
    row.get_by_role("combobox").select_option("admin")
    row.get_by_role("button", name=re.compile("Change|Save", re.I)).click()

    page.get_by_role("link", name="Audit log").click()
    assert page.get_by_role("heading", name="Audit log").is_visible()
    assert page.get_by_role("link", name="member.role_changed").is_visible()
    for width in (1366, 1000):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"audit-log-{width}")

    page.get_by_label("Action").fill("session.*")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tbody tr").count() == 3
    assert page.get_by_role("link", name="member.role_changed").count() == 0

    page.get_by_role("button", name="Verify integrity").click()
    assert page.get_by_text(re.compile(r"The audit log is intact: \d+ entries verified")).is_visible()
    screenshot("audit-log-verified")

    page.goto(f"{live_server.url}/o/acme/settings/")
    page.get_by_label("Chat").fill("30")
    page.get_by_role("button", name="Save retention").click()
    assert page.get_by_text("Retention saved").is_visible()
    for width in (1366, 1000):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"settings-retention-{width}")
