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

from .entitlements import license_for, seats_used
from .models import License, Plan


@transaction.atomic
def license_change(
    *,
    organization: Organization,
    actor: Any = None,
    plan: Plan | None = None,
    seats: int | None = None,
    status: str | None = None,
    trial_ends_at=None,
) -> License:
    """Set plan, seats, status or trial end. Lowering seats below those in use is refused; nothing is deleted by a
    downgrade: limits only stop new things."""
    license_ = License.objects.for_org(organization).select_for_update().get(pk=license_for(organization).pk)
    changes: dict[str, list] = {}
    if plan is not None and plan.pk != license_.plan_id:
        changes["plan"] = [license_.plan.code, plan.code]
        license_.plan = plan
    if seats is not None and seats != license_.seats:
        if seats < 1:
            raise ApplicationError(_("An organization needs at least one seat."), code="invalid_seats")
        used = seats_used(organization)
        if seats < used:
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


def license_extend_trial(*, organization: Organization, days: int, actor: Any = None) -> License:
    license_ = license_for(organization)
    start = max(license_.trial_ends_at or timezone.now(), timezone.now())
    return license_change(
        organization=organization,
        actor=actor,
        status=License.Status.TRIALING,
        trial_ends_at=start + timedelta(days=days),
    )
