"""Stripe's webhooks driving the licence: plan, seats and status follow the organization's subscription.

dj-stripe receives the webhook (:func:`webhook`), verifies its signature, stores the event by id and syncs its own
copy of the objects; then it sends the event's signal, and the receivers here change the licence through
:func:`billing.services.license_change` (audited, actor None: the system). A replayed event is stored already, so
dj-stripe sends no signal and nothing changes twice.

Events can arrive out of order, so subscription events re-fetch the subscription and apply its state now, not the
event's snapshot. Stripe never lifts an operator's suspension, and a payment that keeps failing never turns a
read-only organization writable again: only a paid invoice does.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.event_handlers import djstripe_receiver
from djstripe.models import WebhookEndpoint, WebhookEventTrigger

from connect.errors import ApplicationError, error_response
from orgs.models import Organization

from . import services
from .models import License, Plan

logger = logging.getLogger(__name__)

# The endpoint configured by STRIPE_WEBHOOK_SECRET (dj-stripe keeps endpoints as rows; this one mirrors the setting).
ENV_ENDPOINT_ID = "we_connect_settings"


# --- Webhook view --------------------------------------------------------------------------------------------------
def _endpoint_from_settings(request: HttpRequest) -> WebhookEndpoint | None:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return None
    endpoint, created = WebhookEndpoint.objects.get_or_create(
        id=ENV_ENDPOINT_ID,
        defaults={
            "secret": secret,
            "livemode": settings.STRIPE_LIVE_MODE,
            "url": request.build_absolute_uri(request.path),
            "enabled_events": ["*"],
            "status": "enabled",
            "api_version": "",
        },
    )
    if not created and (endpoint.secret, endpoint.livemode) != (secret, settings.STRIPE_LIVE_MODE):
        endpoint.secret, endpoint.livemode = secret, settings.STRIPE_LIVE_MODE
        endpoint.save(update_fields=["secret", "livemode"])
    return endpoint


def _receive(request: HttpRequest, endpoint: WebhookEndpoint | None) -> HttpResponse:
    from .payments import configure_stripe

    # dj-stripe lets a debug server take the signing secret from this header (for the Stripe CLI): anyone could then
    # sign their own events. Never here (dropped before request.headers is first read and cached).
    request.META.pop("HTTP_X_DJSTRIPE_WEBHOOK_SECRET", None)
    request.__dict__.pop("headers", None)
    if endpoint is None:
        return error_response("not_found", _("No Stripe webhook is configured here."), 404)
    if "stripe-signature" not in request.headers:
        return error_response("invalid_signature", _("The Stripe-Signature header is missing."), 400)
    configure_stripe()
    trigger = WebhookEventTrigger.from_request(request, webhook_endpoint=endpoint)
    if not trigger.valid:
        return error_response("invalid_signature", _("The event's signature does not verify; nothing was done."), 400)
    return JsonResponse({"received": True, "event": trigger.event_id})


@csrf_exempt
@login_not_required
@require_POST
@transaction.non_atomic_requests
def webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events for the endpoint whose secret is STRIPE_WEBHOOK_SECRET."""
    return _receive(request, _endpoint_from_settings(request))


@csrf_exempt
@login_not_required
@require_POST
@transaction.non_atomic_requests
def webhook_by_uuid(request: HttpRequest, uuid: Any) -> HttpResponse:
    """Endpoints an operator created in dj-stripe's admin (each with its own uuid and secret)."""
    return _receive(request, WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first())


# --- From Stripe's objects to the licence ------------------------------------------------------------------------
def _organization_for_customer(customer_id: str | None) -> Organization | None:
    if not customer_id:
        return None
    found = (
        License.objects.unscoped("a Stripe event names a customer; one licence holds that customer id")
        .filter(stripe_customer_id=customer_id)
        .select_related("organization")
        .first()
    )
    return found.organization if found else None


def _plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    return Plan.objects.filter(Q(stripe_price_id=price_id) | Q(stripe_price_id_yearly=price_id)).first()


def _id(value: Any) -> str:
    """A Stripe reference, expanded (an object) or not (its id)."""
    if isinstance(value, str):
        return value
    return (value or {}).get("id", "") if hasattr(value, "get") else ""


def _status_for(current: str, subscription_status: str) -> str | None:
    """The licence status a subscription in ``subscription_status`` means, given the licence's ``current``; None:
    leave it as it is."""
    if current == License.Status.SUSPENDED:
        return None  # the operator's decision; Stripe does not lift it
    if subscription_status == "active":
        return License.Status.ACTIVE
    if subscription_status == "trialing":
        return License.Status.TRIALING
    if subscription_status == "past_due":
        # Still in the grace period, or past it (read-only): a retry that fails again changes neither.
        return None if current in (License.Status.PAST_DUE, License.Status.READ_ONLY) else License.Status.PAST_DUE
    if subscription_status in ("unpaid", "paused"):
        return License.Status.READ_ONLY
    return None  # incomplete: the first payment is still under way


@transaction.atomic
def apply_subscription(*, organization: Organization, subscription: Any, actor: Any = None) -> None:
    """Make the licence say what ``subscription`` (a Stripe subscription, freshly fetched) says: the plan of its
    price, seats = its quantity, the status its state means. A canceled subscription drops the organization to Free."""
    if subscription["status"] in ("canceled", "incomplete_expired"):
        _subscription_ended(organization, subscription["id"])
        return
    license_ = License.objects.for_org(organization).select_for_update().get()
    services.license_link_stripe(organization=organization, subscription_id=subscription["id"], actor=actor)
    item = subscription["items"]["data"][0]
    price_id = _id(item.get("price"))
    plan = _plan_for_price(price_id)
    if plan is None:
        logger.warning("Stripe price %s matches no plan; %s keeps its plan", price_id, organization.public_id)
    status = _status_for(license_.status, subscription["status"])
    trial_end = subscription.get("trial_end")
    change: dict[str, Any] = {"plan": plan, "seats": int(item.get("quantity") or 1), "status": status}
    if status == License.Status.TRIALING and trial_end:
        change["trial_ends_at"] = datetime.fromtimestamp(trial_end, tz=UTC)
    try:
        services.license_change(organization=organization, actor=actor, keep_members=True, **change)
    except ApplicationError as exc:
        if exc.code != "seats_over_plan":
            raise
        # Stripe sold more seats than the plan allows (changed in Stripe's dashboard): the plan and status still
        # apply; the seats stay as they are, and the log says why.
        logger.warning("Stripe subscription %s: %s", subscription["id"], exc.message)
        change.pop("seats")
        services.license_change(organization=organization, actor=actor, keep_members=True, **change)


def _subscription_ended(organization: Organization, subscription_id: str) -> None:
    license_ = License.objects.for_org(organization).select_for_update().get()
    if license_.stripe_subscription_id not in ("", subscription_id):
        return  # an older subscription, replaced already
    if license_.status != License.Status.SUSPENDED:
        # Canceled is recorded as its own step; then the organization carries on with Free (nothing is deleted,
        # limits only stop new things).
        services.license_change(organization=organization, status=License.Status.CANCELED)
        services.license_fall_to_free(organization=organization)
    services.license_link_stripe(organization=organization, subscription_id="")


def _fetch_subscription(subscription_id: str) -> Any:
    return stripe.Subscription.retrieve(subscription_id, api_key=settings.STRIPE_SECRET_KEY)


# --- Receivers -------------------------------------------------------------------------------------------------------
@djstripe_receiver("checkout.session.completed")
def on_checkout_completed(sender: Any, event: Any, **kwargs: Any) -> None:
    session = event.data["object"]
    if session.get("mode") != "subscription" or not session.get("subscription"):
        return
    # Only a customer we created (and stored) names the organization. The session's client_reference_id is not
    # trusted on its own: a payment link lets whoever opens it choose one.
    organization = _organization_for_customer(_id(session.get("customer")))
    if organization is None:
        logger.warning("Checkout session %s is for a customer no organization has", session.get("id"))
        return
    reference = session.get("client_reference_id")
    if reference and reference != organization.public_id:
        logger.warning("Checkout session %s names %s, its customer is %s's", session.get("id"), reference, organization)
        return
    apply_subscription(organization=organization, subscription=_fetch_subscription(_id(session["subscription"])))


@djstripe_receiver(["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"])
def on_subscription_changed(sender: Any, event: Any, **kwargs: Any) -> None:
    snapshot = event.data["object"]
    organization = _organization_for_customer(_id(snapshot.get("customer")))
    if organization is None:
        logger.info("Stripe subscription %s belongs to no organization here", snapshot.get("id"))
        return
    license_ = License.objects.for_org(organization).get()
    is_new = event.type == "customer.subscription.created"
    if not is_new and license_.stripe_subscription_id not in ("", snapshot["id"]):
        return  # an older subscription, replaced already
    apply_subscription(organization=organization, subscription=_fetch_subscription(snapshot["id"]))


@djstripe_receiver("invoice.payment_failed")
def on_payment_failed(sender: Any, event: Any, **kwargs: Any) -> None:
    organization = _organization_for_customer(_id(event.data["object"].get("customer")))
    if organization is None:
        return
    license_ = License.objects.for_org(organization).get()
    if license_.status in (License.Status.ACTIVE, License.Status.TRIALING):
        # The grace period starts (past_due_since); billing.dunning makes it read-only when it is over.
        services.license_change(organization=organization, status=License.Status.PAST_DUE)


@djstripe_receiver("invoice.paid")
def on_invoice_paid(sender: Any, event: Any, **kwargs: Any) -> None:
    organization = _organization_for_customer(_id(event.data["object"].get("customer")))
    if organization is None:
        return
    license_ = License.objects.for_org(organization).get()
    if license_.status in (License.Status.PAST_DUE, License.Status.READ_ONLY):
        services.license_change(organization=organization, status=License.Status.ACTIVE)  # paying restores at once
