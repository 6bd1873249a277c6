"""An owner on a trial reads the Plan and billing page, keeps the plan, runs out of seats on the members page and
follows the prompt to buy more; at a laptop's and a small window's width."""

import pytest

from billing import services
from billing.models import License

from .test_audit_page import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_keeps_the_plan_and_buys_a_seat_when_the_members_page_asks(
    live_server, page, screenshot, acme, alice, bob
):
    services.license_change(organization=acme, seats=2)
    base = live_server.url
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, base, alice.email)

    page.get_by_role("link", name="Billing").click()
    assert page.get_by_role("heading", name="Business plan").is_visible()
    assert "14 days left" in page.locator("#status-text").inner_text()
    assert page.locator("#seats-figure").inner_text() == "2 / 2"
    screenshot("billing-trial-1366")
    page.set_viewport_size({"width": 1000, "height": 900})
    screenshot("billing-trial-1000")

    page.get_by_role("button", name="Keep Business").click()
    assert page.get_by_text("Acme Inc is on the Business plan with 2 seats.").is_visible()
    assert page.locator("#license-status").inner_text() == "Active"

    # Members: both seats are taken, so inviting an agent is refused with the way to more seats.
    page.get_by_role("link", name="Members").click()
    assert page.locator("#seat-line").inner_text().startswith("2 of 2 seats taken")
    page.get_by_label("E-mail").fill("dave@acme.test")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("All 2 seats are taken").is_visible()
    screenshot("members-seats-full-1000")
    page.get_by_role("link", name="Buy seats").click()
    page.get_by_label("Seats").fill("3")
    page.get_by_role("button", name="Change seats").click()
    assert page.get_by_text("3 seats.").is_visible()
    assert License.objects.for_org(acme).get().seats == 3
    page.get_by_role("link", name="Members").click()
    page.get_by_label("E-mail").fill("dave@acme.test")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to dave@acme.test.").is_visible()
