"""What an organization's plan allows, decided in one place.

Services call these checks before they change anything; a refusal is :class:`PlanLimitReached` (HTTP 402 in the one
error shape, naming the limit, the current figure and where to upgrade). Pages, the API, consumers, tasks and the
admin reach the checks through the services, so no surface has a rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from orgs.models import Invitation, Membership, Organization, Role

from .catalogue import ensure_plans
from .models import FEATURES, LIMITS, License, Plan

# Roles that take a seat; plain members and one-off customers never do.
SEAT_ROLES = (Role.OWNER, Role.ADMIN, Role.AGENT)
# Statuses in which an organization may create new things; read-only keeps every existing row readable.
WRITABLE_STATUSES = (License.Status.TRIALING, License.Status.ACTIVE, License.Status.PAST_DUE)


class PlanLimitReached(ApplicationError):
    status_code = 402
    code = "plan_limit"


@dataclass(frozen=True)
class Entitlements:
    plan_code: str
    plan_name: str
    status: str
    seats: int
    limits: dict[str, int | None]
    features: frozenset[str] = field(default_factory=frozenset)

    def limit(self, key: str) -> int | None:
        return self.limits[key]

    def has(self, feature: str) -> bool:
        return feature in self.features


def upgrade_url(organization: Organization) -> str:
    return reverse("org_billing", kwargs={"org_slug": organization.slug})


def seeded_plan(code: str) -> Plan:
    """The plan ``code``; a flushed database (transactional tests) or a deleted plan gets the seeded ones back."""
    found = Plan.objects.filter(code=code).first()
    if found is None:
        ensure_plans(Plan)
        found = Plan.objects.get(code=code)
    return found


def default_plan() -> Plan:
    return seeded_plan(settings.CONNECT_TRIAL_PLAN)


@transaction.atomic
def license_for(organization: Organization) -> License:
    """The organization's licence; one made before licensing existed gets a trial of the default plan."""
    found = License.objects.for_org(organization).select_related("plan").first()
    if found is not None:
        return found
    plan = default_plan()
    license_, _created = License.objects.get_or_create(
        organization=organization,
        defaults={
            "plan": plan,
            "seats": plan.included_seats,
            "status": License.Status.TRIALING,
            "trial_ends_at": timezone.now() + timedelta(days=settings.CONNECT_TRIAL_DAYS),
        },
    )
    return license_


def entitlements_for(organization: Organization) -> Entitlements:
    license_ = license_for(organization)
    plan = license_.plan
    overrides = license_.overrides or {}
    limits = {key: overrides.get(key, getattr(plan, key)) for key in LIMITS}
    features = (set(plan.features) | set(overrides.get("features_add", []))) - set(overrides.get("features_remove", []))
    return Entitlements(
        plan_code=plan.code,
        plan_name=plan.name,
        status=license_.status,
        seats=license_.seats,
        limits=limits,
        features=frozenset(f for f in features if f in FEATURES),
    )


def _refuse(organization: Organization, message: str, *, limit: str, allowed: object, current: object) -> NoReturn:
    raise PlanLimitReached(
        message,
        details={"limit": limit, "allowed": allowed, "current": current, "upgrade_url": upgrade_url(organization)},
    )


def require_writable(organization: Organization, ents: Entitlements | None = None) -> Entitlements:
    ents = ents or entitlements_for(organization)
    if ents.status not in WRITABLE_STATUSES:
        _refuse(
            organization,
            _("%(org)s is %(status)s: existing records stay available, new ones need the plan paid or renewed.")
            % {"org": organization.name, "status": License.Status(ents.status).label.lower()},
            limit="status",
            allowed=list(WRITABLE_STATUSES),
            current=ents.status,
        )
    return ents


def seats_used(organization: Organization) -> int:
    return Membership.objects.for_org(organization).filter(role__in=SEAT_ROLES).count()


def require_feature(organization: Organization, feature: str, *, writes: bool = True) -> Entitlements:
    """``writes`` False for features that only read (the audit export stays available to a read-only organization)."""
    ents = require_writable(organization) if writes else entitlements_for(organization)
    if not ents.has(feature):
        _refuse(
            organization,
            _("%(feature)s is not part of the %(plan)s plan.") % {"feature": FEATURES[feature], "plan": ents.plan_name},
            limit=f"feature:{feature}",
            allowed=False,
            current=False,
        )
    return ents


def _serialize(organization: Organization) -> None:
    """Inside a transaction, lock the licence row: concurrent checks of one organization's limits take turns, so two
    requests cannot both take the last seat or session slot. Outside one (a read), nothing to hold."""
    if transaction.get_connection().in_atomic_block:
        License.objects.for_org(organization).select_for_update().filter(pk=license_for(organization).pk).exists()


def open_seat_invitations(organization: Organization, *, excluding_email: str = "") -> int:
    """Open invitations that take a seat when accepted (``excluding_email``'s is about to be replaced)."""
    found = Invitation.objects.for_org(organization).filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now(), role__in=SEAT_ROLES
    )
    return found.exclude(email__iexact=excluding_email).count() if excluding_email else found.count()


def require_seat(organization: Organization, *, role: str, inviting: str | None = None) -> Entitlements:
    """Adding someone with ``role`` must fit the seats bought. ``inviting``: the e-mail of an invitation about to be
    sent; open invitations then count as seats too (each will take one when accepted)."""
    ents = require_writable(organization)
    if role not in SEAT_ROLES:
        return ents
    _serialize(organization)
    used = seats_used(organization)
    if inviting is not None:
        used += open_seat_invitations(organization, excluding_email=inviting)
    if used + 1 > ents.seats:
        _refuse(
            organization,
            _("All %(seats)s seats are taken (%(used)s in use or invited). Buy more seats to add an agent.")
            % {"seats": ents.seats, "used": used},
            limit="seats",
            allowed=ents.seats,
            current=used,
        )
    return ents


def require_session_start(organization: Organization) -> Entitlements:
    """One more live support session must fit: concurrent live sessions per seat, times the seats bought."""
    from sessions.models import LIVE_STATUSES, SupportSession

    ents = require_writable(organization)
    per_seat = ents.limit("sessions_per_seat")
    if per_seat is None:
        return ents
    allowed = per_seat * ents.seats
    _serialize(organization)
    live = SupportSession.objects.for_org(organization).filter(status__in=LIVE_STATUSES).count()
    if live + 1 > allowed:
        _refuse(
            organization,
            _("%(live)s sessions are live, the most your plan allows at once (%(allowed)s). End one, or upgrade.")
            % {"live": live, "allowed": allowed},
            limit="concurrent_sessions",
            allowed=allowed,
            current=live,
        )
    return ents


def require_machine_enrollment(organization: Organization) -> Entitlements:
    """One more unattended machine must fit the plan (machines removed do not count)."""
    from machines.models import Machine

    ents = require_feature(organization, "unattended")
    allowed = ents.limit("unattended_machines")
    if allowed is None:
        return ents
    _serialize(organization)
    enrolled = Machine.objects.for_org(organization).filter(removed_at__isnull=True).count()
    if enrolled + 1 > allowed:
        _refuse(
            organization,
            _("%(n)s machines are enrolled, the most your plan allows. Remove one, or upgrade.") % {"n": enrolled},
            limit="unattended_machines",
            allowed=allowed,
            current=enrolled,
        )
    return ents
