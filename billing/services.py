"""Changes to a licence: every one goes through here (admin actions and, later, Stripe) and lands in the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from connect.errors import ApplicationError
from orgs.models import Organization

from .entitlements import license_for, seats_used, seeded_plan
from .models import FEATURES, LIMITS, License, Plan


@transaction.atomic
def license_change(
    *,
    organization: Organization,
    actor: Any = None,
    plan: Plan | None = None,
    seats: int | None = None,
    status: str | None = None,
    trial_ends_at=None,
    overrides: dict | None = None,
    keep_members: bool = False,
) -> License:
    """Set plan, seats, status or trial end. Lowering seats below those in use is refused, unless ``keep_members``
    (the system ending a trial or a subscription): then the seats go down and everyone stays, only new seats are
    refused. Nothing is deleted by a downgrade: limits only stop new things."""
    license_ = License.objects.for_org(organization).select_for_update().get(pk=license_for(organization).pk)
    changes: dict[str, list] = {}
    if plan is not None and plan.pk != license_.plan_id:
        changes["plan"] = [license_.plan.code, plan.code]
        license_.plan = plan
    if overrides is not None and overrides != (license_.overrides or {}):
        changes["overrides"] = [license_.overrides or {}, clean_overrides(overrides)]
        license_.overrides = changes["overrides"][1]
    ceiling = (license_.overrides or {}).get("max_seats", license_.plan.max_seats)
    if ceiling is not None and seats is not None and seats > ceiling:
        raise ApplicationError(
            _("The %(plan)s plan has at most %(max)s seats; choose a larger plan for more.")
            % {"plan": license_.plan.name, "max": ceiling},
            code="seats_over_plan",
            details={"field": "seats", "allowed": ceiling},
        )
    if ceiling is not None and seats is None and license_.seats > ceiling:
        seats = ceiling  # a smaller plan: as many seats as it has
    if seats is not None and seats != license_.seats:
        if seats < 1:
            raise ApplicationError(
                _("An organization needs at least one seat."), code="invalid_seats", details={"field": "seats"}
            )
        used = seats_used(organization)
        if seats < used and not keep_members:
            raise ApplicationError(
                _("%(used)s seats are in use; remove agents or change their role before going down to %(seats)s.")
                % {"used": used, "seats": seats},
                code="seats_in_use",
                details={"field": "seats", "current": used},
            )
        changes["seats"] = [license_.seats, seats]
        license_.seats = seats
    if status is not None and status != license_.status:
        if status not in License.Status.values:
            raise ApplicationError(
                _("%(status)s is not a licence status.") % {"status": status},
                code="invalid_status",
                details={"field": "status", "allowed": list(License.Status.values)},
            )
        changes["status"] = [license_.status, status]
        license_.past_due_since = timezone.now() if status == License.Status.PAST_DUE else None
        license_.status = status
    if trial_ends_at is not None and trial_ends_at != license_.trial_ends_at:
        changes["trial_ends_at"] = [
            license_.trial_ends_at.isoformat() if license_.trial_ends_at else None,
            trial_ends_at.isoformat(),
        ]
        license_.trial_ends_at = trial_ends_at
    if not changes:
        return license_
    license_.save()
    audit_record(organization=organization, action="license.changed", actor=actor, data=changes)
    return license_


def license_fall_to_free(*, organization: Organization, actor: Any = None) -> License:
    """A trial that ended unpaid, or a subscription that ended: the Free plan, active. Everyone stays (the seats go
    down, new ones are refused); nothing is deleted, limits only stop new things."""
    free = seeded_plan("free")
    return license_change(
        organization=organization,
        actor=actor,
        plan=free,
        seats=free.included_seats,
        status=License.Status.ACTIVE,
        keep_members=True,
    )


def clean_overrides(overrides: object) -> dict:
    """A negotiated deal, checked: limit keys with a whole number or null (unlimited), and feature lists."""
    if not isinstance(overrides, dict):
        raise ApplicationError(
            _("Overrides are a JSON object."), code="invalid_overrides", details={"field": "overrides"}
        )
    cleaned: dict = {}
    for key, value in overrides.items():
        if key in ("features_add", "features_remove"):
            if not isinstance(value, list) or any(item not in FEATURES for item in value):
                raise ApplicationError(
                    _("%(key)s lists features, from: %(features)s.") % {"key": key, "features": ", ".join(FEATURES)},
                    code="invalid_overrides",
                    details={"field": "overrides"},
                )
            cleaned[key] = sorted(set(value))
        elif key in LIMITS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ApplicationError(
                    _("%(key)s is a whole number of at least 0, or null for unlimited.") % {"key": key},
                    code="invalid_overrides",
                    details={"field": "overrides"},
                )
            cleaned[key] = value
        else:
            raise ApplicationError(
                _("%(key)s is not a limit; the limits are: %(limits)s.") % {"key": key, "limits": ", ".join(LIMITS)},
                code="invalid_overrides",
                details={"field": "overrides"},
            )
    return cleaned


def license_extend_trial(*, organization: Organization, days: int, actor: Any = None) -> License:
    license_ = license_for(organization)
    start = max(license_.trial_ends_at or timezone.now(), timezone.now())
    return license_change(
        organization=organization,
        actor=actor,
        status=License.Status.TRIALING,
        trial_ends_at=start + timedelta(days=days),
    )


@transaction.atomic
def license_link_stripe(
    *, organization: Organization, customer_id: str | None = None, subscription_id: str | None = None, actor: Any = None
) -> License:
    """Remember the organization's Stripe customer and subscription (``""`` forgets one); billing.payments and the
    Stripe webhook handlers call it. Audited like every licence change."""
    license_ = License.objects.for_org(organization).select_for_update().get(pk=license_for(organization).pk)
    changes: dict[str, list] = {}
    if customer_id is not None and customer_id != license_.stripe_customer_id:
        changes["stripe_customer_id"] = [license_.stripe_customer_id, customer_id]
        license_.stripe_customer_id = customer_id
    if subscription_id is not None and subscription_id != license_.stripe_subscription_id:
        changes["stripe_subscription_id"] = [license_.stripe_subscription_id, subscription_id]
        license_.stripe_subscription_id = subscription_id
    if not changes:
        return license_
    license_.save(update_fields=[*changes, "updated_at"])
    audit_record(organization=organization, action="license.stripe_linked", actor=actor, data=changes)
    return license_
