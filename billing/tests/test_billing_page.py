"""The Plan and billing page and the seat prompt on the members page (offline billing: changes apply at once)."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from billing import entitlements, services
from billing.models import License, Plan
from orgs.models import Invitation, Role
from orgs.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(acme):
    return reverse("org_billing", kwargs={"org_slug": acme.slug})


def test_owner_sees_the_trial_the_seats_and_the_plans(client, alice, bob, page):
    client.force_login(alice)
    response = client.get(page)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Business plan" in body and "Trial of Business: 14 days left" in body
    assert "2 / 10" in body  # alice and bob take seats
    for name in ("Free", "Pro", "Business"):
        assert f'data-plan="{name.lower()}"' in body
    assert 'data-plan="enterprise"' not in body  # not offered on the page
    assert "Billing is offline in this installation" in body
    assert "Upgrade to Pro" not in body and "Move to Pro" in body  # Pro is below Business


def test_agents_members_and_other_organizations_cannot_see_or_change_the_plan(client, acme, bob, gina, page):
    member = MembershipFactory(organization=acme, role=Role.MEMBER).user
    for who in (bob, member):
        client.force_login(who)
        assert client.get(page).status_code == 403
        assert client.post(page, {"action": "plan", "plan": "free", "seats": "1"}).status_code == 403
    client.force_login(gina)  # an owner, of Globex
    assert client.get(page).status_code == 404
    assert client.post(page, {"action": "plan", "plan": "free", "seats": "1"}).status_code == 404
    assert entitlements.entitlements_for(acme).plan_code == "business"


def test_choosing_a_plan_applies_it_and_is_audited(client, acme, alice, page):
    client.force_login(alice)
    response = client.post(page, {"action": "plan", "plan": "pro", "seats": "3"}, follow=True)
    assert "Acme Inc is on the Pro plan with 3 seats." in response.content.decode()
    license_ = License.objects.for_org(acme).get()
    assert (license_.plan.code, license_.seats, license_.status) == ("pro", 3, "active")
    entry = AuditEntry.objects.for_org(acme).filter(action="license.changed").latest("id")
    assert entry.data["plan"] == ["business", "pro"] and entry.data["seats"] == [10, 3]


def test_bad_input_is_refused_in_words_and_changes_nothing(client, acme, alice, bob, page):
    client.force_login(alice)
    for data, words in [
        ({"action": "plan", "plan": "enterprise", "seats": "5"}, "Choose one of the plans shown."),
        ({"action": "plan", "plan": "nope", "seats": "5"}, "Choose one of the plans shown."),
        ({"action": "seats", "seats": "ten"}, "Seats is a whole number."),
        ({"action": "seats", "seats": "0"}, "Seats is between 1 and 100,000."),
        ({"action": "seats", "seats": "1"}, "2 seats are in use"),  # alice and bob
        ({"action": "plan", "plan": "pro", "seats": "12"}, "The Pro plan has at most 9 seats"),
        ({"action": "whatever"}, "Nothing to do"),
    ]:
        response = client.post(page, data)
        assert response.status_code == 400, data
        assert words in response.content.decode(), data
    license_ = License.objects.for_org(acme).get()
    assert (license_.plan.code, license_.seats, license_.status) == ("business", 10, "trialing")
    assert not AuditEntry.objects.for_org(acme).filter(action="license.changed").exists()


def test_a_plan_too_small_for_the_agents_is_not_offered(client, acme, alice, bob, page):
    client.force_login(alice)
    body = client.get(page).content.decode()
    assert "2 seats are in use; this plan has 1. Remove agents first." in body  # Free has one seat
    response = client.post(page, {"action": "plan", "plan": "free", "seats": "1"})
    assert response.status_code == 400
    assert entitlements.entitlements_for(acme).plan_code == "business"


def test_seats_change_and_the_members_page_offers_more_when_full(client, acme, alice, bob, page):
    client.force_login(alice)
    client.post(page, {"action": "seats", "seats": "3"})
    assert License.objects.for_org(acme).get().seats == 3
    members = reverse("org_members", kwargs={"org_slug": acme.slug})
    ok = client.post(members, {"email": "new@acme.test", "role": "agent"})
    assert ok.status_code == 302
    refused = client.post(members, {"email": "more@acme.test", "role": "agent"})
    assert refused.status_code == 402
    body = refused.content.decode()
    assert "All 3 seats are taken" in body and "Buy seats" in body and page in body
    assert "3 of 3 seats taken" in body
    assert not Invitation.objects.for_org(acme).filter(email="more@acme.test").exists()
    # A plain member needs no seat, so the same organization can still invite one.
    assert client.post(members, {"email": "viewer@acme.test", "role": "member"}).status_code == 302


def test_read_only_shows_why_and_keeps_the_page(client, acme, alice, page):
    services.license_change(organization=acme, status=License.Status.READ_ONLY)
    client.force_login(alice)
    body = client.get(page).content.decode()
    assert "Read-only: the plan is unpaid." in body
    members = reverse("org_members", kwargs={"org_slug": acme.slug})
    refused = client.post(members, {"email": "x@acme.test", "role": "member"})
    assert refused.status_code == 402 and "See plans" in refused.content.decode()


def test_the_admin_changes_licences_through_the_service(admin_client, acme, alice, bob):
    license_ = entitlements.license_for(acme)
    url = reverse("admin:billing_license_change", args=[license_.pk])
    form = admin_client.get(url)
    assert form.status_code == 200
    pro = Plan.objects.get(code="pro")
    data = {
        "plan": pro.pk,
        "seats": "1",  # below the two in use
        "status": "active",
        "trial_ends_at_0": "",
        "trial_ends_at_1": "",
        "overrides": "{}",
    }
    response = admin_client.post(url, data, follow=True)
    assert "2 seats are in use" in response.content.decode()
    assert License.objects.for_org(acme).get().plan.code == "business"
    data["seats"] = "4"
    data["overrides"] = '{"sessions_per_seat": null, "features_add": ["sso"]}'
    admin_client.post(url, data, follow=True)
    license_ = License.objects.for_org(acme).get()
    assert (license_.plan.code, license_.seats, license_.status) == ("pro", 4, "active")
    assert entitlements.entitlements_for(acme).has("sso")
    assert entitlements.entitlements_for(acme).limit("sessions_per_seat") is None
    entry = AuditEntry.objects.for_org(acme).filter(action="license.changed").latest("id")
    assert entry.actor_id  # names the staff member
    data["overrides"] = '{"seats_forever": 3}'
    response = admin_client.post(url, data)
    assert any("seats_forever is not a limit" in str(m) for m in response.wsgi_request._messages)
    assert License.objects.for_org(acme).get().overrides == {"features_add": ["sso"], "sessions_per_seat": None}


def test_admin_actions_extend_a_trial_and_suspend(admin_client, acme):
    license_ = entitlements.license_for(acme)
    before = license_.trial_ends_at
    url = reverse("admin:billing_license_changelist")
    admin_client.post(url, {"action": "extend_trial", "_selected_action": [license_.pk]})
    assert (License.objects.for_org(acme).get().trial_ends_at - before).days == 14
    admin_client.post(url, {"action": "suspend", "_selected_action": [license_.pk]})
    assert License.objects.for_org(acme).get().status == "suspended"
    assert admin_client.get(reverse("admin:billing_plan_changelist")).status_code == 200
    listing = admin_client.get(url).content.decode()
    assert "Acme Inc" in listing and "Seats used / bought" in listing and "Sessions this month" in listing
