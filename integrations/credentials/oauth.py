"""django-oauth-toolkit hooks: recognisable token prefixes, and scopes bounded by each application's own."""

from __future__ import annotations

import secrets
from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes

from connect.scopes import SCOPES
from orgs.tenancy import cross_organization

OAUTH_ACCESS_PREFIX = "coa"


def generate_access_token(request=None) -> str:
    return f"{OAUTH_ACCESS_PREFIX}_{secrets.token_urlsafe(32)}"


def generate_refresh_token(request=None) -> str:
    return f"cor_{secrets.token_urlsafe(32)}"


class ApplicationScopes(BaseScopes):
    """An application may only ask for the scopes its organization gave it."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(SCOPES)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        if application is None:
            return list(SCOPES)
        return [scope for scope in application.scopes if scope in SCOPES]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return self.get_available_scopes(application, request)


# django-oauth-toolkit finds the calling client by its client_id, whichever the organization, in its own code
# (the validator, the authorization view): the one crossing of organizations its protocol needs.
OAUTH_CLIENT_LOOKUP = "OAuth2: a client_id names its application, whichever the organization"


class OrganizationOAuth2Validator(OAuth2Validator):
    """The toolkit's validator, allowed to look the client up by client_id (the application is org-owned)."""

    def _load_application(self, client_id: str, request: Any) -> Any:
        with cross_organization(OAUTH_CLIENT_LOOKUP):
            return super()._load_application(client_id, request)
