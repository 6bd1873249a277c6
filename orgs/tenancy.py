"""The tenant boundary, in one place.

Every org-owned model inherits :class:`OrgOwnedModel` (or, owned through a parent row, :class:`OrgGuardedModel`
with an ``org_path``). Its default manager fails closed: a query that is not scoped to one organization raises
:class:`UnscopedQuery` when it is evaluated. Scope with ``for_org(organization)``; the few paths that must cross
organizations name why, with ``Model.objects.unscoped(reason)`` or :func:`cross_organization`.
Views never build their own org filter: page views use
``orgs.views.OrgScopedMixin``, API views (and later WebSocket consumers) resolve an :class:`OrgContext`
through :func:`org_context_for_user` and fetch objects with :func:`get_for_org_or_404`.

Missing and forbidden look the same: both raise :class:`connect.errors.NotFound` (404).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In
from django.db.models.sql import Query
from django.db.models.sql.datastructures import Join
from django.db.models.sql.where import AND
from django.utils.translation import gettext as _

from connect.errors import ApplicationError, NotFound

if TYPE_CHECKING:
    from .models import Membership, Organization

M = TypeVar("M", bound=models.Model)


class UnscopedQuery(RuntimeError):
    """A query of an org-owned model would have read or changed rows of every organization.

    Raised when such a query is evaluated (not when it is built): scope it with ``for_org(organization)``, filter it
    on its organization (or its parent row) with one value, or name why it must cross organizations with
    ``Model.objects.unscoped(reason)`` or :func:`cross_organization`.
    """


_cross_organization_reason: ContextVar[str | None] = ContextVar("cross_organization_reason", default=None)


def _require_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("Crossing organizations needs a reason: say why this query may see every organization.")
    return reason


@contextmanager
def cross_organization(reason: str) -> Iterator[None]:
    """Let the queries of a code block cross organizations: beat sweeps, Django's own unique checks, the admin.

    ``reason`` is required so that every crossing says why in the code (docs/architecture.md lists them)."""
    token = _cross_organization_reason.set(_require_reason(reason))
    try:
        yield
    finally:
        _cross_organization_reason.reset(token)


def is_org_guarded(model: type[models.Model]) -> bool:
    """Whether ``model``'s default manager refuses queries that are not scoped to one organization."""
    queryset_class = getattr(model._default_manager, "_queryset_class", None)
    return isinstance(queryset_class, type) and issubclass(queryset_class, OrgScopedQuerySet)


@functools.cache
def _scoping_fields() -> frozenset[models.Field]:
    """The foreign keys whose value, once fixed, fixes the organization of their row: a guarded model's key to the
    organization or to another guarded model (its parent). Collected over every guarded model, since a filter may
    reach them through the forward joins of the org path (``session__organization``)."""
    from django.apps import apps

    organization = apps.get_model("orgs", "Organization")
    return frozenset(
        field
        for candidate in apps.get_models()
        if is_org_guarded(candidate)
        for field in candidate._meta.concrete_fields
        if field.is_relation
        and (field.many_to_one or field.one_to_one)
        and (field.related_model is organization or is_org_guarded(field.related_model))
    )


def _reached_by_forward_joins(query: Query, alias: str) -> bool:
    """Whether every row of the base table meets one row of ``alias`` at most (a chain of forward foreign keys):
    a condition there then constrains the base row itself, not some other row reached through a reverse join."""
    while alias != query.base_table:
        join = query.alias_map.get(alias)
        if not isinstance(join, Join) or not isinstance(join.join_field, models.ForeignKey):
            return False
        alias = join.parent_alias
    return True


def _names_one_organization(query: Query) -> bool:
    """Whether the top-level filters of ``query`` pin its rows to one organization (see OrgScopedQuerySet)."""
    if query.is_empty():
        return True  # .none(): nothing is read
    where = query.where
    if where.connector != AND or where.negated:
        return False
    scoping = _scoping_fields()
    for lookup in where.children:
        if not isinstance(lookup, (Exact, In)):
            continue
        column = lookup.lhs
        if not isinstance(column, Col) or not _reached_by_forward_joins(query, column.alias):
            continue
        value = lookup.rhs
        if hasattr(value, "resolve_expression") or value is None:
            continue  # a subquery or an outer reference names no organization by itself
        if column.target not in scoping:
            # The organization itself, joined and named by a unique column (``organization__slug="acme"``).
            target = column.target
            if isinstance(lookup, Exact) and target.model._meta.label == "orgs.Organization" and target.unique:
                return True
            continue
        if isinstance(lookup, Exact):
            return True
        values = set(value)

        if column.target.related_model._meta.label == "orgs.Organization":
            if len(values) == 1:
                return True
        elif values:
            # Rows of parents the caller already holds: what prefetch_related asks (``session__in=[...]``).
            return True
    return False


def scoped_to_one_org(queryset: models.QuerySet) -> bool:
    """Whether ``queryset`` itself names one organization (its filters; the escape hatch does not count)."""
    return _names_one_organization(queryset.query)


def organization_id_of(obj: models.Model) -> Any:
    """The id of the organization ``obj`` belongs to, following its model's ``org_path`` (``None`` when the model
    is not org-owned). Related rows are read through the unguarded base manager (or what select_related cached)."""
    path = getattr(type(obj), "org_path", None)
    if path is None:
        return None
    *parents, last = path.split("__")
    for name in parents:
        obj = getattr(obj, name)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


class OrgScopedQuerySet(models.QuerySet):
    """The default queryset of every org-owned model: it answers only when it is scoped to one organization.

    Scoped means: ``for_org(organization)``; or a filter on the organization (or on a parent org-owned row, which is
    how ``session.events.all()`` and ``organization.membership_set`` filter) with one value; or the named escape
    hatch, ``unscoped(reason)`` or :func:`cross_organization`. Anything else raises :class:`UnscopedQuery` when it
    is evaluated. Inserts are always allowed; Django's cascades and ``save()`` use the unguarded base manager.
    """

    _tenancy_reason: str | None = None

    def _clone(self) -> OrgScopedQuerySet:
        clone = super()._clone()
        clone._tenancy_reason = self._tenancy_reason
        return clone

    def for_org(self, organization: Organization) -> OrgScopedQuerySet:
        """Rows of ``organization`` only (through the model's ``org_path`` for rows owned through a parent)."""
        if organization is None or organization.pk is None:
            raise ValueError("for_org() needs a saved organization")
        return self.filter(**{getattr(self.model, "org_path", "organization"): organization})

    def unscoped(self, reason: str) -> OrgScopedQuerySet:
        """Every organization's rows, for the few paths that must cross them (lookups by a credential's hash, beat
        sweeps, a person's own memberships). ``reason`` is required and says why."""
        clone = self._chain()
        clone._tenancy_reason = _require_reason(reason)
        return clone

    def is_scoped(self) -> bool:
        if self._tenancy_reason or _cross_organization_reason.get():
            return True
        return _names_one_organization(self.query)

    def _refuse_unscoped(self) -> None:
        if not self.is_scoped():
            name = self.model.__name__
            path = getattr(self.model, "org_path", "organization")
            raise UnscopedQuery(
                f"{self.model._meta.label}: this query is not scoped to one organization. Use "
                f"{name}.objects.for_org(organization) (or filter on {path} with one value); where it must cross "
                f'organizations, say why with {name}.objects.unscoped("reason") or '
                f'orgs.tenancy.cross_organization("reason").'
            )

    def __repr__(self) -> str:
        if self._result_cache is None and not self.is_scoped():
            return f"<{type(self).__name__} of {self.model._meta.label}, not scoped to one organization>"
        return super().__repr__()

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._refuse_unscoped()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None):
        self._refuse_unscoped()
        return super().iterator(chunk_size)

    def aiterator(self, chunk_size: int = 2000):
        self._refuse_unscoped()
        return super().aiterator(chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            self._refuse_unscoped()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._refuse_unscoped()
        return super().exists()

    def contains(self, obj: models.Model) -> bool:
        if self._result_cache is None:
            self._refuse_unscoped()
        return super().contains(obj)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._refuse_unscoped()
        return super().aggregate(*args, **kwargs)

    def in_bulk(self, id_list: Any = None, *, field_name: str = "pk") -> dict[Any, models.Model]:
        self._refuse_unscoped()
        return super().in_bulk(id_list, field_name=field_name)

    def update(self, **kwargs: Any) -> int:
        self._refuse_unscoped()
        return super().update(**kwargs)

    update.alters_data = True

    def _update(self, values: Any) -> int:
        self._refuse_unscoped()
        return super()._update(values)

    _update.alters_data = True
    _update.queryset_only = True

    def delete(self) -> tuple[int, dict[str, int]]:
        self._refuse_unscoped()
        return super().delete()

    delete.alters_data = True
    delete.queryset_only = True

    def explain(self, *, format: str | None = None, **options: Any) -> str:
        self._refuse_unscoped()
        return super().explain(format=format, **options)


class OrgGuardedModel(models.Model):
    """Base of every model whose default manager is an :class:`OrgScopedQuerySet`.

    Django's own uniqueness and constraint checks look for clashes in every organization (a ``public_id`` or a
    token hash is unique across the service): they run through the escape hatch."""

    class Meta:
        abstract = True

    def validate_unique(self, exclude: Any = None) -> None:
        with cross_organization("unique checks: a clash in any organization is a clash"):
            super().validate_unique(exclude=exclude)

    def validate_constraints(self, exclude: Any = None) -> None:
        with cross_organization("unique checks: a clash in any organization is a clash"):
            super().validate_constraints(exclude=exclude)


class OrgOwnedModel(OrgGuardedModel):
    """Base for every row that belongs to one organization."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE)

    org_path = "organization"

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        abstract = True


def _crossing_view(view: Any, reason: str) -> Any:
    @functools.wraps(view)
    def crossing(*args: Any, **kwargs: Any) -> Any:
        with cross_organization(reason):
            return view(*args, **kwargs)

    return crossing


class CrossOrgAdminMixin:
    """For every ModelAdmin and inline of an org-owned model: the operators' admin sees every organization.

    The admin reads through ``get_queryset`` (lists, objects, actions, autocomplete) and builds its choice fields
    from the related model's default manager: both go through the escape hatch."""

    admin_reason = "Django admin: operators of the service see every organization"

    def get_urls(self) -> list[Any]:
        # Whatever a page of this admin builds (list filters, inline formsets, the deletion summary) crosses too.
        urls = super().get_urls()
        for pattern in urls:
            pattern.callback = _crossing_view(pattern.callback, self.admin_reason)
        return urls

    def get_queryset(self, request: Any) -> models.QuerySet:
        queryset = super().get_queryset(request)
        return queryset.unscoped(self.admin_reason) if isinstance(queryset, OrgScopedQuerySet) else queryset

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        self._unscoped_choices(db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        self._unscoped_choices(db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _unscoped_choices(self, db_field: Any, kwargs: dict[str, Any]) -> None:
        related = db_field.remote_field.model
        if "queryset" not in kwargs and is_org_guarded(related):
            kwargs["queryset"] = related._default_manager.unscoped(self.admin_reason)


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


OWN_MEMBERSHIPS = "a person's own memberships, in every organization they belong to"


def memberships_of(user: Any) -> models.QuerySet[Membership]:
    """``user``'s memberships in every organization: the one read of memberships that must cross organizations
    (which organizations may this person act in?). Everything else reads one organization's members."""
    from .models import Membership

    return Membership.objects.unscoped(OWN_MEMBERSHIPS).filter(user=user)


def _active_membership(user: Any, org_ref: str | None) -> Membership:
    from .models import Organization

    memberships = (
        memberships_of(user)
        .select_related("organization", "user")
        .filter(organization__status=Organization.Status.ACTIVE)
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
