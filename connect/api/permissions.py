from rest_framework.permissions import BasePermission

from orgs.tenancy import Principal


class HasPrincipal(BasePermission):
    """Some credential was presented and accepted. Scopes are checked by the org-scoped base view."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Principal)


class IsPerson(BasePermission):
    """Endpoints about a person (their profile, their devices): not for API keys or client credentials."""

    message = "This endpoint acts for a person; organization credentials cannot use it."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Principal) and request.auth.user is not None
