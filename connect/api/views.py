"""Base API views. Every organization-owned endpoint derives from :class:`OrgAPIView`.

The organization is resolved once from the credential (and, for a person in several organizations, the
``X-Organization`` header), the method's scope is checked, and ``get_queryset`` only ever returns rows of that
organization. Subclasses may narrow it with ``scope_queryset`` but cannot replace it, and ``get_object`` answers
only an object of that organization, whatever the queryset held: a subclass that truly needs another queryset names
it ``dangerously_get_queryset`` (PostHog's name), and still gets 404 for another organization's object.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import generics, serializers
from rest_framework.views import APIView

from connect.errors import Forbidden, NotFound
from orgs.tenancy import OrgContext, UnscopedQuery, org_context_for_principal, organization_id_of, scoped_to_one_org

from .permissions import HasPrincipal

ORG_HEADER = "X-Organization"

ORG_HEADER_PARAMETER = OpenApiParameter(
    ORG_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Slug or id of the organization to act in. Needed only when a person belongs to several; "
    "credentials of one organization (API keys, OAuth2 apps) act in theirs.",
)


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, so a typo is an error rather than ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class PublicAPIView(APIView):
    """An endpoint that takes no credential (its body carries what proves the caller: a password, a code, a token,
    a signature): no authentication runs, so a stale cookie or bearer header cannot change its answer."""

    authentication_classes: list = []
    permission_classes: list = []


class OrgAPIView(generics.GenericAPIView):
    model: ClassVar[type[Model]]
    required_scopes: ClassVar[dict[str, str]] = {}
    permission_classes = [HasPrincipal]
    org: OrgContext

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("get_queryset", "get_object"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}; narrow the rows with scope_queryset instead "
                    "(or, knowingly, dangerously_get_queryset)"
                )

    def initial(self, request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.org = org_context_for_principal(request.auth, request.headers.get(ORG_HEADER))
        method = "GET" if request.method == "HEAD" else request.method
        scope = self.required_scopes.get(method)
        if scope and not self.org.has_scope(scope):
            raise Forbidden(
                _("This credential lacks the '%(scope)s' scope.") % {"scope": scope},
                code="missing_scope",
                details={"required_scope": scope},
            )

    def acting_person(self):
        """The person acting, for rules that weigh a person's role (members, invitations); 403 for credentials
        of the organization itself (API keys, client credentials)."""
        if self.org.user is None:
            raise Forbidden(_("This needs a person's credential, not an organization's."), code="person_required")
        return self.org.user

    def get_queryset(self) -> QuerySet:
        dangerous = getattr(self, "dangerously_get_queryset", None)
        if dangerous is not None:
            return dangerous()
        queryset = self.scope_queryset(self.model.objects.for_org(self.org.organization))
        if queryset.model is not self.model or not scoped_to_one_org(queryset):
            # scope_queryset narrows; a queryset built afresh there would have dropped the organization.
            raise UnscopedQuery(f"{type(self).__name__}.scope_queryset returned rows of every organization")
        return queryset

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def get_object(self) -> Model:
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        obj = self.get_queryset().filter(**{self.lookup_field: lookup}).first()
        # Checked on the object too: whatever queryset produced it, another organization's object is not found.
        if obj is None or organization_id_of(obj) != self.org.organization.pk:
            raise NotFound(_("Not found."))
        return obj
