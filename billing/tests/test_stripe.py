"""Billing through Stripe: every call the code makes is answered by a fake Stripe HTTP server, so stripe-python and
dj-stripe run for real; webhook events are signed with the stripe library's own helper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import stripe
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing import entitlements, payments, services, tasks_billing
from billing.models import License, Plan
from billing.tests.fake_stripe import FakeStripe
from connect.errors import ApplicationError
from orgs.models import Membership, Role
from orgs.tests.factories import MembershipFactory
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_connect"
WEBHOOK = "/billing/stripe/webhook/"


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    before = (stripe.api_base, stripe.api_key)
    settings.STRIPE_SECRET_KEY = "sk_test_" + "c0nnect" * 4
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.url
    payments.configure_stripe()
    fake.add_price("price_pro_month", unit_amount=1900, name="Pro")
    fake.add_price("price_business_month", unit_amount=3900, name="Business")
    Plan.objects.filter(code="pro").update(stripe_price_id="price_pro_month")
    Plan.objects.filter(code="business").update(stripe_price_id="price_business_month")
    yield fake
    fake.close()
    stripe.api_base, stripe.api_key = before


def deliver(event: dict, *, secret: str = WEBHOOK_SECRET, signature: str | None = None):
    payload = json.dumps(event)
    header = signature or stripe.WebhookSignature.generate_signature_header(payload, secret)
    return APIClient().post(WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def licence(org) -> License:
    entitlements.license_for(org)  # made on first use
    return License.objects.for_org(org).select_related("plan").get()


def checkout(org, actor, *, plan: str = "pro", seats: int = 3) -> str:
    return payments.start_checkout(
        organization=org,
        plan=Plan.objects.get(code=plan),
        seats=seats,
        actor=actor,
        success_url="http://testserver/o/x/billing/?checkout=done",
        cancel_url="http://testserver/o/x/billing/",
    )


def subscribe(fake: FakeStripe, org, actor, *, plan: str = "pro", seats: int = 3) -> dict:
    """Checkout, then Stripe's events as Stripe sends them once the customer paid."""
    url = checkout(org, actor, plan=plan, seats=seats)
    session_id = url.rsplit("/", 1)[1]
    session, sub = fake.complete_checkout(session_id)
    assert deliver(fake.event("checkout.session.completed", session)).status_code == 200
    assert deliver(fake.event("customer.subscription.created", sub)).status_code == 200
    return sub


# --- Offline and online checkout ---------------------------------------------------------------------------------
def test_offline_checkout_applies_the_plan_at_once(acme, alice, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert not payments.billing_online()
    assert checkout(acme, alice, plan="pro", seats=2) is None
    license_ = licence(acme)
    assert (license_.plan.code, license_.seats, license_.status) == ("pro", 2, "active")
    assert payments.portal_url(organization=acme, return_url="http://testserver/") is None
    payments.change_seats(organization=acme, seats=4, actor=alice)
    assert licence(acme).seats == 4


def test_online_checkout_sends_the_price_the_seats_and_the_organization(fake_stripe, acme, alice):
    url = checkout(acme, alice, plan="pro", seats=3)
    assert url.startswith("https://checkout.stripe.test/c/pay/cs_test_")
    (customer_call,) = fake_stripe.calls("POST", "/v1/customers")
    assert customer_call.params["metadata"]["organization"] == acme.public_id
    assert customer_call.params["email"] == alice.email
    (session_call,) = fake_stripe.calls("POST", "/v1/checkout/sessions")
    sent = session_call.params
    assert sent["mode"] == "subscription" and sent["client_reference_id"] == acme.public_id
    assert sent["line_items"] == [{"price": "price_pro_month", "quantity": "3"}]
    assert sent["customer"] == licence(acme).stripe_customer_id != ""
    # Nothing is bought yet: the licence waits for Stripe's webhook.
    assert (licence(acme).plan.code, licence(acme).status) == ("business", "trialing")
    # A second checkout reuses the customer.
    checkout(acme, alice, plan="pro", seats=3)
    assert len(fake_stripe.calls("POST", "/v1/customers")) == 1


def test_a_plan_without_a_price_is_not_for_sale_and_nothing_is_sent(fake_stripe, acme, alice):
    with pytest.raises(ApplicationError) as refused:
        checkout(acme, alice, plan="enterprise", seats=30)
    assert refused.value.code == "plan_not_for_sale"
    assert fake_stripe.writes() == []


def test_checkout_refuses_what_the_plan_cannot_hold_before_charging(fake_stripe, acme, alice):
    with pytest.raises(ApplicationError) as refused:
        checkout(acme, alice, plan="pro", seats=50)  # Pro has at most 9 seats
    assert refused.value.code == "seats_over_plan"
    assert fake_stripe.writes() == []


def test_the_billing_page_sends_the_owner_to_checkout(fake_stripe, client, acme, alice, bob):
    page = reverse("org_billing", kwargs={"org_slug": acme.slug})
    client.force_login(bob)  # an agent may not buy
    assert client.post(page, {"action": "plan", "plan": "pro", "seats": "2"}).status_code == 403
    assert fake_stripe.writes() == []
    client.force_login(alice)
    response = client.post(page, {"action": "plan", "plan": "pro", "seats": "2"})
    assert response.status_code == 302 and response["Location"].startswith("https://checkout.stripe.test/")


# --- Webhooks drive the licence ----------------------------------------------------------------------------------
def test_trialing_active_past_due_read_only_and_active_again(fake_stripe, client, acme, alice, bob):
    assert licence(acme).status == "trialing"
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    license_ = licence(acme)
    assert (license_.plan.code, license_.seats, license_.status) == ("pro", 3, "active")
    assert license_.stripe_subscription_id == sub["id"]
    old_session = SupportSessionFactory(organization=acme, agent=bob, customer_name="Carl")

    failed = fake_stripe.add_invoice(subscription=sub["id"], paid=False)
    assert deliver(fake_stripe.event("invoice.payment_failed", failed)).status_code == 200
    license_ = licence(acme)
    assert license_.status == "past_due" and license_.past_due_since is not None
    agent = APIClient()
    agent.force_login(bob)
    # Inside the grace period the organization keeps working.
    assert agent.post("/api/v1/sessions", {"customer_name": "Dora"}, format="json").status_code == 201
    assert tasks_billing.dunning() == 0 and licence(acme).status == "past_due"

    License.objects.for_org(acme).update(past_due_since=timezone.now() - timedelta(days=8))
    assert tasks_billing.dunning() == 1
    assert licence(acme).status == "read_only"
    assert tasks_billing.dunning() == 0  # again: nothing more
    refused = agent.post("/api/v1/sessions", {"customer_name": "Eve"}, format="json")
    assert refused.status_code == 402
    assert refused.json()["error"]["details"]["limit"] == "status"
    listed = agent.get("/api/v1/sessions")  # history stays readable
    assert listed.status_code == 200
    assert old_session.public_id in {s["id"] for s in listed.json()["results"]}
    # Stripe retries and fails again: still read-only, not writable again.
    again = fake_stripe.add_invoice(subscription=sub["id"], paid=False)
    fake_stripe.objects["subscriptions"][sub["id"]]["status"] = "past_due"
    deliver(fake_stripe.event("invoice.payment_failed", again))
    deliver(fake_stripe.event("customer.subscription.updated", fake_stripe.objects["subscriptions"][sub["id"]]))
    assert licence(acme).status == "read_only"

    paid = fake_stripe.add_invoice(subscription=sub["id"], paid=True)
    fake_stripe.objects["subscriptions"][sub["id"]]["status"] = "active"
    assert deliver(fake_stripe.event("invoice.paid", paid)).status_code == 200
    assert licence(acme).status == "active" and licence(acme).past_due_since is None
    assert agent.post("/api/v1/sessions", {"customer_name": "Fay"}, format="json").status_code == 201
    statuses = [
        e.data["status"]
        for e in AuditEntry.objects.for_org(acme).filter(action="license.changed").order_by("seq")
        if "status" in e.data
    ]
    assert statuses == [
        ["trialing", "active"],
        ["active", "past_due"],
        ["past_due", "read_only"],
        ["read_only", "active"],
    ]


def test_seats_follow_the_subscription_quantity(fake_stripe, acme, alice, bob):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    payments.change_seats(organization=acme, seats=5, actor=alice)
    (modify,) = fake_stripe.calls("POST", f"/v1/subscriptions/{sub['id']}")
    assert modify.params["items"] == [{"id": sub["items"]["data"][0]["id"], "quantity": "5"}]
    assert modify.params["proration_behavior"] == "create_prorations"
    assert licence(acme).seats == 5
    entry = AuditEntry.objects.for_org(acme).filter(action="license.changed").latest("seq")
    assert entry.data["seats"] == [3, 5] and entry.actor_id == alice.public_id

    # Lowered in Stripe's portal: the event says 4 (re-fetched), the licence follows.
    fake_stripe.objects["subscription_items"][sub["items"]["data"][0]["id"]]["quantity"] = 4
    assert (
        deliver(
            fake_stripe.event("customer.subscription.updated", fake_stripe.objects["subscriptions"][sub["id"]])
        ).status_code
        == 200
    )
    assert licence(acme).seats == 4

    # Below the seats in use (alice and bob): refused before Stripe is asked.
    writes = len(fake_stripe.writes())
    with pytest.raises(ApplicationError) as refused:
        payments.change_seats(organization=acme, seats=1, actor=alice)
    assert refused.value.code == "seats_in_use"
    assert len(fake_stripe.writes()) == writes and licence(acme).seats == 4


def test_more_seats_sold_than_the_plan_holds_keeps_the_seats_and_the_event_succeeds(fake_stripe, acme, alice):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    fake_stripe.objects["subscription_items"][sub["items"]["data"][0]["id"]]["quantity"] = 12  # Pro holds 9
    event = fake_stripe.event("customer.subscription.updated", fake_stripe.objects["subscriptions"][sub["id"]])
    assert deliver(event).status_code == 200  # not a 500 that Stripe would retry for days
    assert (licence(acme).plan.code, licence(acme).seats, licence(acme).status) == ("pro", 3, "active")


def test_a_plan_change_modifies_the_live_subscription_instead_of_a_second_checkout(fake_stripe, acme, alice):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    assert checkout(acme, alice, plan="business", seats=12) is None
    assert len(fake_stripe.calls("POST", "/v1/checkout/sessions")) == 1
    (modify,) = fake_stripe.calls("POST", f"/v1/subscriptions/{sub['id']}")
    assert modify.params["items"][0]["price"] == "price_business_month"
    license_ = licence(acme)
    assert (license_.plan.code, license_.seats, license_.status) == ("business", 12, "active")


def test_a_deleted_subscription_cancels_and_falls_to_free_keeping_everyone(fake_stripe, acme, alice, bob, carol):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    fake_stripe.objects["subscriptions"][sub["id"]].update(status="canceled")
    assert (
        deliver(
            fake_stripe.event("customer.subscription.deleted", fake_stripe.objects["subscriptions"][sub["id"]])
        ).status_code
        == 200
    )
    license_ = licence(acme)
    assert (license_.plan.code, license_.status, license_.stripe_subscription_id) == ("free", "active", "")
    assert Membership.objects.for_org(acme).count() == 3  # nobody removed; new seats are refused
    changes = [e.data for e in AuditEntry.objects.for_org(acme).filter(action="license.changed").order_by("seq")]
    assert changes[-2]["status"] == ["active", "canceled"]
    assert changes[-1]["plan"] == ["pro", "free"] and changes[-1]["status"] == ["canceled", "active"]


def test_a_replayed_event_changes_nothing_twice(fake_stripe, acme, alice, bob):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    failed = fake_stripe.event("invoice.payment_failed", fake_stripe.add_invoice(subscription=sub["id"], paid=False))
    assert deliver(failed).status_code == 200
    License.objects.for_org(acme).update(status=License.Status.ACTIVE, past_due_since=None)  # an operator's fix
    entries = AuditEntry.objects.for_org(acme).count()
    assert deliver(failed).status_code == 200  # Stripe delivers it again
    assert licence(acme).status == "active"
    assert AuditEntry.objects.for_org(acme).count() == entries


@pytest.mark.parametrize(
    "signature",
    ["wrong-secret", "t=1,v1=deadbeef", "stale"],
)
def test_a_wrongly_signed_event_is_refused_and_changes_nothing(fake_stripe, acme, alice, signature):
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    event = fake_stripe.event("invoice.payment_failed", fake_stripe.add_invoice(subscription=sub["id"], paid=False))
    payload = json.dumps(event)
    if signature == "wrong-secret":
        header = stripe.WebhookSignature.generate_signature_header(payload, "whsec_someone_else")
    elif signature == "stale":  # a real signature, replayed an hour later
        header = stripe.WebhookSignature.generate_signature_header(
            payload, WEBHOOK_SECRET, timestamp=int(timezone.now().timestamp()) - 3600
        )
    else:
        header = signature
    entries = AuditEntry.objects.for_org(acme).count()
    response = deliver(event, signature=header)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert licence(acme).status == "active" and AuditEntry.objects.for_org(acme).count() == entries


def test_the_debug_secret_header_cannot_sign_events(fake_stripe, settings, acme, alice):
    settings.DEBUG = True  # dj-stripe would take the secret from X-Djstripe-Webhook-Secret in debug
    sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    event = fake_stripe.event("invoice.payment_failed", fake_stripe.add_invoice(subscription=sub["id"], paid=False))
    payload = json.dumps(event)
    response = APIClient().post(
        WEBHOOK,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe.WebhookSignature.generate_signature_header(payload, "whsec_mine"),
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_mine",
    )
    assert response.status_code == 400 and licence(acme).status == "active"


def test_an_unsigned_post_or_an_unconfigured_endpoint_is_refused(fake_stripe, settings, acme):
    assert APIClient().post(WEBHOOK, "{}", content_type="application/json").status_code == 400
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert deliver({"id": "evt_1", "livemode": False}).status_code == 404


def test_an_event_for_another_organizations_customer_touches_only_that_one(fake_stripe, acme, alice, globex, gina):
    acme_sub = subscribe(fake_stripe, acme, alice, plan="pro", seats=3)
    subscribe(fake_stripe, globex, gina, plan="business", seats=11)
    assert licence(acme).stripe_customer_id != licence(globex).stripe_customer_id
    failed = fake_stripe.add_invoice(subscription=acme_sub["id"], paid=False)
    deliver(fake_stripe.event("invoice.payment_failed", failed))
    assert licence(acme).status == "past_due"
    assert (licence(globex).status, licence(globex).plan.code, licence(globex).seats) == ("active", "business", 11)


def test_a_checkout_naming_another_organization_changes_neither(fake_stripe, acme, alice, globex, gina):
    checkout(globex, gina)  # Globex's customer exists
    session = fake_stripe.objects["checkout/sessions"][checkout(acme, alice).rsplit("/", 1)[1]]
    session["customer"] = licence(globex).stripe_customer_id  # Globex's customer, naming Acme
    session, _sub = fake_stripe.complete_checkout(session["id"])
    assert deliver(fake_stripe.event("checkout.session.completed", session)).status_code == 200
    assert (licence(acme).plan.code, licence(acme).status) == ("business", "trialing")
    assert (licence(globex).plan.code, licence(globex).status) == ("business", "trialing")


def test_a_subscription_of_a_customer_we_do_not_know_changes_nobody(fake_stripe, acme, alice):
    stranger = fake_stripe.add_customer(email="x@example.test")
    sub = fake_stripe.add_subscription(customer=stranger["id"], price="price_business_month", quantity=40)
    assert deliver(fake_stripe.event("customer.subscription.created", sub)).status_code == 200
    assert (licence(acme).plan.code, licence(acme).status) == ("business", "trialing")
    assert not AuditEntry.objects.for_org(acme).filter(action="license.changed").exists()


def test_the_portal_opens_for_the_organizations_customer(fake_stripe, acme, alice):
    subscribe(fake_stripe, acme, alice)
    url = payments.portal_url(organization=acme, return_url="http://testserver/o/acme/billing/")
    assert url.startswith("https://billing.stripe.test/p/session/")
    (call,) = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["customer"] == licence(acme).stripe_customer_id


def test_stripe_down_says_so_and_changes_nothing(fake_stripe, acme, alice):
    fake_stripe.close()
    with pytest.raises(ApplicationError) as refused:
        checkout(acme, alice)
    assert refused.value.status_code == 502 and refused.value.code == "payment_provider_unavailable"
    assert licence(acme).stripe_customer_id == "" and licence(acme).status == "trialing"


# --- Trials ----------------------------------------------------------------------------------------------------------
def test_a_trial_that_ends_without_a_plan_falls_to_free_and_keeps_everyone(acme, alice, bob, globex):
    services.license_change(organization=acme, trial_ends_at=timezone.now() - timedelta(minutes=1))
    services.license_change(organization=globex, trial_ends_at=timezone.now() + timedelta(days=2))
    MembershipFactory(organization=acme, role=Role.AGENT)
    assert tasks_billing.end_trials() == 1
    license_ = licence(acme)
    assert (license_.plan.code, license_.status, license_.seats) == ("free", "active", 1)
    assert Membership.objects.for_org(acme).count() == 3
    assert (licence(globex).plan.code, licence(globex).status) == ("business", "trialing")
    assert tasks_billing.end_trials() == 0
    entry = AuditEntry.objects.for_org(acme).filter(action="license.changed").latest("seq")
    assert entry.actor_kind == "system" and entry.data["plan"] == ["business", "free"]


def test_owners_are_reminded_once_three_days_before_the_trial_ends(
    acme, alice, bob, globex, gina, mailoutbox, django_capture_on_commit_callbacks
):
    services.license_change(organization=acme, trial_ends_at=timezone.now() + timedelta(days=2, hours=12))
    services.license_change(organization=globex, trial_ends_at=timezone.now() + timedelta(days=9))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks_billing.trial_reminders() == 1
    (mail,) = mailoutbox
    assert mail.to == [alice.email]  # the owner, not bob the agent; not Globex's owner yet
    assert "ends in 3 days" in mail.subject and "/o/acme/billing/" in mail.body and "Nothing is deleted" in mail.body
    assert tasks_billing.trial_reminders() == 0 and len(mailoutbox) == 1  # once
    # Support moves the trial's end: a new end, a new reminder.
    services.license_change(organization=acme, trial_ends_at=timezone.now() + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks_billing.trial_reminders() == 1
    assert len(mailoutbox) == 2 and "ends in 1 day" in mailoutbox[1].subject
