"""The tenant boundary, in one place.

Every org-owned model inherits :class:`OrgOwnedModel`; its default manager only hands out rows through
``for_org(organization)``. Views never build their own org filter: page views use
``orgs.views.OrgScopedMixin``, API views (and later WebSocket consumers) resolve an :class:`OrgContext`
through :func:`org_context_for_user` and fetch objects with :func:`get_for_org_or_404`.

Missing and forbidden look the same: both raise :class:`connect.errors.NotFound` (404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.utils.translation import gettext as _

from connect.errors import ApplicationError, NotFound

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
class Principal:
    """Who presents a credential: a person (browser session, native app, OAuth2 app acting for them) or an
    organization's machine credential (API key, OAuth2 client credentials).

    ``organization`` is set for credentials that belong to one organization; ``scopes`` limits what the
    credential may do (``None``: whatever the person's role grants).
    """

    kind: str  # "session" | "native" | "api_key" | "oauth"
    user: Any = None
    organization: Organization | None = None
    scopes: frozenset[str] | None = None
    credential_id: str = ""
    # The OAuth2 access token's row (the credential itself; credential_id names its application).
    token_id: int | None = None
    # What the credential proved when issued (orgs.access.Assurance); cookie sessions carry theirs here.
    assurance: Any = None
    # A cookie session's key: signing out (or a password change) ends what it opened.
    session_key: str = ""

    @property
    def throttle_key(self) -> str:
        return f"{self.kind}:{self.credential_id or getattr(self.user, 'pk', '')}"


@dataclass(frozen=True)
class OrgContext:
    """Who is acting, in which organization, with which scopes. Resolved once per request or connection."""

    organization: Organization
    membership: Membership | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    principal: Principal | None = None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def user(self):
        return self.membership.user if self.membership else None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _active_membership(user: Any, org_ref: str | None) -> Membership:
    from .models import Membership, Organization

    memberships = Membership.objects.select_related("organization", "user").filter(
        user=user, organization__status=Organization.Status.ACTIVE
    )
    if org_ref:
        membership = memberships.filter(
            models.Q(organization__slug=org_ref) | models.Q(organization__public_id=org_ref)
        ).first()
        if membership is None:
            raise NotFound(_("Organization not found."))
        return membership
    candidates = list(memberships[:2])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NotFound(_("You are not a member of any organization."), code="no_organization")
    raise ApplicationError(
        _("You belong to several organizations: name one in the X-Organization header (slug or id)."),
        code="organization_required",
        details={"organizations": [m.organization.slug for m in memberships.order_by("organization__slug")]},
    )


def org_context_for_user(user: Any, org_ref: str | None) -> OrgContext:
    """Resolve ``org_ref`` (slug or public id; optional when the user has one organization) to an
    organization ``user`` belongs to, or 404.

    An organization the user is not a member of, a suspended or closed one, and one that does not exist
    are indistinguishable to the caller.
    """
    from .roles import scopes_for_role

    if not getattr(user, "is_authenticated", False):
        raise NotFound(_("Organization not found."))
    membership = _active_membership(user, org_ref)
    return OrgContext(membership.organization, membership, scopes_for_role(membership.role))


def org_context_for_principal(principal: Principal, org_ref: str | None) -> OrgContext:
    """The one place where a credential becomes "this organization, these scopes"."""
    from .roles import scopes_for_role

    organization = principal.organization
    if organization is not None:
        if not organization.is_active or (org_ref and org_ref not in (organization.slug, organization.public_id)):
            raise NotFound(_("Organization not found."))
        membership = None
        if principal.user is not None:  # an OAuth2 app acting for a person: that person must still belong
            membership = _active_membership(principal.user, organization.public_id)
        granted = scopes_for_role(membership.role) if membership else frozenset(principal.scopes or ())
    else:
        membership = _active_membership(principal.user, org_ref)
        organization = membership.organization
        granted = scopes_for_role(membership.role)
    scopes = granted if principal.scopes is None else granted & principal.scopes
    return OrgContext(organization, membership, frozenset(scopes), principal)


def get_for_org_or_404(model_or_qs: type[M] | models.QuerySet, organization: Organization, **lookup: Any) -> M:
    """Fetch one org-owned object by ``lookup`` inside ``organization``; 404 when absent or elsewhere."""
    qs = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    if any(isinstance(value, str) and "\x00" in value for value in lookup.values()):
        raise NotFound(_("Not found."))  # PostgreSQL refuses NUL in a query; such an id names nothing
    try:
        return qs.for_org(organization).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Not found.")) from None
