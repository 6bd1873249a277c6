"""Paying for a plan: what the billing page calls, online (Stripe, through dj-stripe) or offline.

Offline (no ``STRIPE_SECRET_KEY``, the embedded default) a change applies at once through
:func:`billing.services.license_change`, as an operator would set it for an invoiced customer. Online, a new plan goes
through Stripe Checkout and the licence changes when Stripe's signed webhook says the subscription exists
(:mod:`billing.stripe_events`); seats and plan changes of an existing subscription are made on Stripe (prorated) and
applied here as soon as Stripe answers. Whatever Stripe says later (webhooks) wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from orgs.models import Membership, Organization, Role

from . import services
from .entitlements import license_for
from .models import License, Plan

logger = logging.getLogger(__name__)

# Subscriptions in these Stripe states are the organization's live subscription: a plan change modifies it rather
# than opening a second Checkout.
LIVE_SUBSCRIPTION_STATES = ("active", "trialing", "past_due", "unpaid", "paused")


class PaymentProviderUnavailable(ApplicationError):
    status_code = 502
    code = "payment_provider_unavailable"


def billing_online() -> bool:
    """Whether Stripe is configured (a secret key); without it billing is offline."""
    return bool(settings.STRIPE_SECRET_KEY)


def configure_stripe() -> None:
    """Point the stripe library (which dj-stripe uses too) at the configured API; read at call time so a test can
    aim it at its fake Stripe."""
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.api_key = settings.STRIPE_SECRET_KEY or None


@contextmanager
def _stripe_call() -> Iterator[None]:
    configure_stripe()
    try:
        yield
    except stripe.StripeError as exc:
        logger.warning("Stripe refused or did not answer: %s", exc)
        raise PaymentProviderUnavailable(
            _("The payment provider did not accept the request; nothing was changed. Try again in a minute."),
            details={"provider_code": getattr(exc, "code", None) or ""},
        ) from exc


def _api_key() -> str:
    return settings.STRIPE_SECRET_KEY


class _DryRun(Exception):
    pass


def _check_allowed(*, organization: Organization, plan: Plan | None, seats: int) -> None:
    """Refuse before Stripe charges anything what the licence service would refuse once paid (too many seats for the
    plan, fewer seats than in use): the service's own checks run and their write is rolled back."""
    try:
        with transaction.atomic():
            services.license_change(organization=organization, plan=plan, seats=seats, actor=None)
            raise _DryRun
    except _DryRun:
        pass


def _billing_email(organization: Organization, actor: Any) -> str:
    email = getattr(actor, "email", "") or ""
    if email:
        return email
    owner = Membership.objects.for_org(organization).filter(role=Role.OWNER).select_related("user").first()
    return owner.user.email if owner else ""


def _customer_id(organization: Organization, actor: Any) -> str:
    """The organization's Stripe customer, created once (metadata names the organization's public id)."""
    license_ = license_for(organization)
    if license_.stripe_customer_id:
        return license_.stripe_customer_id
    from djstripe.models import Customer as DjstripeCustomer

    customer = stripe.Customer.create(
        api_key=_api_key(),
        name=organization.name,
        email=_billing_email(organization, actor) or None,
        metadata={"organization": organization.public_id, "organization_slug": organization.slug},
        # Two clicks at once make one customer (Stripe keeps idempotency keys for a day).
        idempotency_key=f"connect-customer-{organization.public_id}",
    )
    DjstripeCustomer.sync_from_stripe_data(customer, api_key=_api_key())
    services.license_link_stripe(organization=organization, customer_id=customer.id, actor=actor)
    return customer.id


def _live_subscription(license_: License) -> Any | None:
    if not license_.stripe_subscription_id:
        return None
    subscription = stripe.Subscription.retrieve(license_.stripe_subscription_id, api_key=_api_key())
    return subscription if subscription.status in LIVE_SUBSCRIPTION_STATES else None


def start_checkout(
    *, organization: Organization, plan: Plan, seats: int, actor: Any, success_url: str, cancel_url: str
) -> str | None:
    """Move ``organization`` to ``plan`` with ``seats``. Returns the Stripe Checkout URL to send the buyer to, or
    None when the change is already applied (offline billing, or a live subscription changed in place)."""
    if not billing_online():
        services.license_change(
            organization=organization, plan=plan, seats=seats, status=License.Status.ACTIVE, actor=actor
        )
        return None
    if not plan.stripe_price_id:
        raise ApplicationError(
            _("The %(plan)s plan is not sold online; contact us to buy it.") % {"plan": plan.name},
            code="plan_not_for_sale",
            details={"field": "plan"},
        )
    _check_allowed(organization=organization, plan=plan, seats=seats)
    with _stripe_call():
        subscription = _live_subscription(license_for(organization))
        if subscription is not None:
            item = subscription["items"]["data"][0]
            updated = stripe.Subscription.modify(
                subscription.id,
                api_key=_api_key(),
                items=[{"id": item["id"], "price": plan.stripe_price_id, "quantity": seats}],
                proration_behavior="create_prorations",
            )
            _apply(organization, updated, actor)
            return None
        customer_id = _customer_id(organization, actor)
        session = stripe.checkout.Session.create(
            api_key=_api_key(),
            mode="subscription",
            customer=customer_id,
            client_reference_id=organization.public_id,
            line_items=[{"price": plan.stripe_price_id, "quantity": seats}],
            metadata={"organization": organization.public_id, "plan": plan.code},
            subscription_data={"metadata": {"organization": organization.public_id}},
            success_url=success_url,
            cancel_url=cancel_url,
        )
    return session.url


def change_seats(*, organization: Organization, seats: int, actor: Any) -> None:
    """Set the seat count: offline at once; online as the subscription's quantity (prorated), applied once Stripe
    accepts it. A trial without a subscription changes its seats here (nothing to charge yet)."""
    license_ = license_for(organization)
    if not billing_online() or (license_.status == License.Status.TRIALING and not license_.stripe_subscription_id):
        services.license_change(organization=organization, seats=seats, actor=actor)
        return
    _check_allowed(organization=organization, plan=None, seats=seats)
    with _stripe_call():
        subscription = _live_subscription(license_)
        if subscription is None:
            raise ApplicationError(
                _("There is no subscription to change: choose a plan first, or contact us if you are invoiced."),
                code="no_subscription",
                details={"field": "seats"},
            )
        item = subscription["items"]["data"][0]
        if item["quantity"] == seats:
            return
        updated = stripe.Subscription.modify(
            subscription.id,
            api_key=_api_key(),
            items=[{"id": item["id"], "quantity": seats}],
            proration_behavior="create_prorations",
        )
    _apply(organization, updated, actor)


def portal_url(*, organization: Organization, return_url: str) -> str | None:
    """Stripe's customer portal (cards, invoices, cancelling) for the organization; None offline."""
    if not billing_online():
        return None
    with _stripe_call():
        customer_id = _customer_id(organization, None)
        session = stripe.billing_portal.Session.create(api_key=_api_key(), customer=customer_id, return_url=return_url)
    return session.url


def _apply(organization: Organization, subscription: Any, actor: Any) -> None:
    from .stripe_events import apply_subscription

    apply_subscription(organization=organization, subscription=subscription, actor=actor)
