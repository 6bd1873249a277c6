"""The tenant boundary, in one place.

Every org-owned model inherits :class:`OrgOwnedModel`; its default manager only hands out rows through
``for_org(organization)``. Views never build their own org filter: page views use
``orgs.views.OrgScopedMixin``, API views (and later WebSocket consumers) resolve an :class:`OrgContext`
through :func:`org_context_for_user` and fetch objects with :func:`get_for_org_or_404`.

Missing and forbidden look the same: both raise :class:`connect.errors.NotFound` (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.utils.translation import gettext as _

from connect.errors import NotFound

if TYPE_CHECKING:
    from .models import Membership, Organization

M = TypeVar("M", bound=models.Model)


class OrgScopedQuerySet(models.QuerySet):
    def for_org(self, organization: Organization) -> OrgScopedQuerySet:
        if organization is None or organization.pk is None:
            raise ValueError("for_org() needs a saved organization")
        return self.filter(organization=organization)


class OrgOwnedModel(models.Model):
    """Base for every row that belongs to one organization."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        abstract = True


@dataclass(frozen=True)
class OrgContext:
    """Who is acting, in which organization, with which role. Resolved once per request or connection."""

    organization: Organization
    membership: Membership | None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None


def org_context_for_user(user: Any, org_ref: str) -> OrgContext:
    """Resolve ``org_ref`` (slug or public id) to an organization ``user`` belongs to, or 404.

    An organization the user is not a member of, a suspended or closed one, and one that does not exist
    are indistinguishable to the caller.
    """
    from .models import Membership, Organization

    if not getattr(user, "is_authenticated", False) or not org_ref:
        raise NotFound(_("Organization not found."))
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization__status=Organization.Status.ACTIVE)
        .filter(models.Q(organization__slug=org_ref) | models.Q(organization__public_id=org_ref))
        .first()
    )
    if membership is None:
        raise NotFound(_("Organization not found."))
    return OrgContext(organization=membership.organization, membership=membership)


def get_for_org_or_404(model_or_qs: type[M] | models.QuerySet, organization: Organization, **lookup: Any) -> M:
    """Fetch one org-owned object by ``lookup`` inside ``organization``; 404 when absent or elsewhere."""
    qs = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    try:
        return qs.for_org(organization).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Not found.")) from None
