"""Reads for organizations and their people. Every org-owned read goes through ``for_org``."""

from __future__ import annotations

from django.db.models import QuerySet

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
