from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from connect.api.authentication import APIKeyAuthentication
from orgs.tenancy import Principal


class HasPrincipal(BasePermission):
    """Some credential was presented and accepted. Scopes are checked by the org-scoped base view."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Principal)


class IsPerson(BasePermission):
    """Endpoints about a person (their profile, their devices): not for API keys or client credentials, which are
    told so (403 ``person_required``) rather than that no credential was given."""

    message = _(
        "This endpoint acts for a person: use a person's credential (a native app token, an OAuth2 token a person "
        "granted, or the web session), not an organization's API key or client credentials."
    )
    code = "person_required"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Principal) and request.auth.user is not None


class APIKeyRefusedForPersons(APIKeyAuthentication):
    """On person-only endpoints an API key is recognised only so that :class:`IsPerson` can say what is wrong
    (403 ``person_required``) instead of "no credentials were provided"; the OpenAPI document does not offer API
    keys there (``connect.api.schema``)."""
