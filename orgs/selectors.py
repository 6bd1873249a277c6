"""Reads for organizations and their people. Every org-owned read goes through ``for_org``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from .models import Invitation, Membership, Organization, User
from .tenancy import memberships_of


def memberships_for_user(user: User) -> QuerySet[Membership]:
    """The active organizations a user belongs to, with their role."""
    return (
        memberships_of(user)
        .filter(organization__status=Organization.Status.ACTIVE)
        .select_related("organization")
        .order_by("organization__name")
    )


def organization_members(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.for_org(organization).select_related("user").order_by("user__email")


def organization_pending_invitations(organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.objects.for_org(organization)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


@dataclass(frozen=True)
class GettingStarted:
    """The first steps a new organization's owners and admins are shown on the dashboard until both are done."""

    invited_agent: bool
    started_session: bool

    @property
    def complete(self) -> bool:
        return self.invited_agent and self.started_session


def organization_getting_started(organization: Organization) -> GettingStarted:
    """Invite an agent: someone besides the first person holds a seat, or a seat invitation is open. Start a first
    session: the organization has any support session, whatever became of it."""
    from billing import entitlements
    from sessions.models import SupportSession

    invited = entitlements.seats_used(organization) > 1 or entitlements.open_seat_invitations(organization) > 0
    return GettingStarted(invited_agent=invited, started_session=SupportSession.objects.for_org(organization).exists())


@dataclass(frozen=True)
class TrialState:
    plan_name: str
    ends_at: datetime
    days_left: int  # whole days, rounded up; 0 once the end has passed

    @property
    def ended(self) -> bool:
        return self.days_left == 0


def organization_trial(organization: Organization) -> TrialState | None:
    """The organization's trial, if its licence is in one (``None`` once it is paid for, or has no end)."""
    from billing import entitlements
    from billing.models import License

    license_ = entitlements.license_for(organization)
    if license_.status != License.Status.TRIALING or license_.trial_ends_at is None:
        return None
    remaining = (license_.trial_ends_at - timezone.now()).total_seconds()
    return TrialState(
        plan_name=license_.plan.name, ends_at=license_.trial_ends_at, days_left=max(0, math.ceil(remaining / 86400))
    )
