"""A person signs in, invites a colleague, and the colleague joins through the e-mailed link."""

import re

import pytest
from django.core import mail

from orgs.models import Membership
from orgs.tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_invites_and_invitee_joins(live_server, page, screenshot, acme, alice):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill("alice@acme.test")
    page.get_by_label(re.compile("Password", re.I)).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    page.wait_for_url(f"{live_server.url}/o/acme/")
    assert page.get_by_role("heading", name="Acme Inc").is_visible()

    page.get_by_role("link", name="Manage members").click()
    page.get_by_label("E-mail address").fill("dave@acme.test")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to dave@acme.test.").is_visible()
    assert page.get_by_role("cell", name="dave@acme.test").is_visible()
    screenshot("members-after-invite")

    link = re.search(r"http://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
    path = link.split("/invitations/", 1)[1]
    invitee = page.context.browser.new_context().new_page()
    invitee.goto(f"{live_server.url}/invitations/{path}")
    assert invitee.get_by_role("heading", name="Join Acme Inc").is_visible()
    invitee.get_by_label("Your name").fill("Dave")
    invitee.get_by_label("Choose a password").fill(PASSWORD)
    invitee.get_by_role("button", name="Create account and join").click()
    invitee.wait_for_url(f"{live_server.url}/o/acme/")
    assert invitee.get_by_text("Welcome to Acme Inc.").is_visible()
    assert Membership.objects.for_org(acme).get(user__email="dave@acme.test").role == "agent"

    # The spent link now explains itself.
    invitee.goto(f"{live_server.url}/invitations/{path}")
    assert invitee.get_by_text("already been used").is_visible()


def test_login_failure_is_explained(live_server, page, screenshot, acme, alice):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill("alice@acme.test")
    page.get_by_label(re.compile("Password", re.I)).fill("wrong-password")
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    assert page.get_by_text(re.compile("not correct", re.I)).is_visible()
    screenshot("login-failed")
