"""The session workflow in real browsers against a real daphne process: a transfer while the customer is connected
(the customer sees the new name, the previous agent is told), notes, tags and a ticket reference in the viewer's
panel, and the customer's rating on their ended page, then visible in the viewer."""

from __future__ import annotations

import re

import pytest

from .flows import sign_in_and_start
from .servers import embedded_var_dir, manage, running_server, server_env
from .test_browser_session import wait_until

pytestmark = [pytest.mark.e2e]

ADD_DAVE = """
from orgs.models import Membership, Organization, User
dave = User.objects.create_user(email="dave@acme.test", password=None, name="Dave Doe")
Membership.objects.create(organization=Organization.objects.get(slug="acme"), user=dave, role="agent")
"""


@pytest.fixture
def product(embedded_template, tmp_path) -> str:
    """The embedded product with Acme, alice (owner) and Dave Doe (an agent of Acme)."""
    env = server_env(embedded_var_dir(embedded_template, tmp_path / "workflow"))
    manage(env, "shell", "-c", ADD_DAVE)
    with running_server("workflow", env, tmp_path / "logs") as server:
        yield server.base_url


def test_transfer_notes_and_rating(product, browser, screenshot):
    agent = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    code = sign_in_and_start(agent, product)
    viewer_url = agent.url

    customer = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: customer.locator("#sharing").is_visible())
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))

    # Ticket, tags and a note in the viewer's panel.
    agent.get_by_label("Ticket reference").fill("SUP-1234")
    agent.get_by_label("Tags").fill("printer, vpn")
    agent.locator("#save-details").click()
    agent.wait_for_url(re.compile(r"#workflow$"))
    agent.get_by_label("New note").fill("Driver reinstalled; customer to reboot tonight.")
    agent.get_by_role("button", name="Add note").click()
    wait_until(lambda: agent.get_by_text("Driver reinstalled; customer to reboot tonight.").is_visible())
    assert agent.get_by_label("Ticket reference").input_value() == "SUP-1234"
    assert agent.locator("#tag-list .tag").all_inner_texts() == ["printer", "vpn"]
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    screenshot("workflow-viewer-1366", agent)
    agent.set_viewport_size({"width": 1000, "height": 900})
    screenshot("workflow-viewer-1000", agent)
    agent.set_viewport_size({"width": 1366, "height": 900})
    # The customer's page shows none of it.
    assert "SUP-1234" not in customer.content() and "Driver reinstalled" not in customer.content()

    # Transfer while the customer is connected.
    agent.get_by_label("Transfer to").select_option(label="Dave Doe")
    agent.get_by_role("button", name="Transfer", exact=True).click()
    wait_until(
        lambda: agent.get_by_text("This session was transferred to Dave Doe. You no longer run it.").first.is_visible()
    )
    wait_until(lambda: customer.get_by_text("You are now helped by Dave Doe.").is_visible())
    assert customer.locator("#sharing").is_visible()  # still sharing: the customer stayed
    screenshot("workflow-transferred-agent", agent)
    screenshot("workflow-transferred-customer", customer)

    # The customer stops; their ended page asks for a rating.
    customer.get_by_role("button", name="Stop sharing").click()
    wait_until(lambda: customer.get_by_role("heading", name="This session has ended").is_visible())
    wait_until(lambda: customer.locator("#rating-form").is_visible())
    screenshot("workflow-rating-1000", customer)
    customer.locator("label[for=rating-4]").click()
    customer.get_by_label("Anything to add? (optional)").fill("Quick and kind.")
    customer.get_by_role("button", name="Send rating").click()
    wait_until(lambda: customer.get_by_text("you rated this session 4 of 5").is_visible())
    customer.set_viewport_size({"width": 1366, "height": 800})
    screenshot("workflow-rated-1366", customer)

    # The owner still may open it: the rating, the note and the ticket are there after the end.
    agent.goto(viewer_url)
    wait_until(lambda: agent.locator("#rating-value").is_visible())
    assert agent.locator("#rating-value").inner_text() == "4 of 5"
    assert agent.get_by_text("Quick and kind.").is_visible()
    assert agent.get_by_text("Driver reinstalled; customer to reboot tonight.").is_visible()
    assert "Dave Doe" in agent.locator(".viewer-head").inner_text()
    screenshot("workflow-ended-viewer-1366", agent)
