"""django-oauth-toolkit hooks: recognisable token prefixes, and scopes bounded by each application's own."""

from __future__ import annotations

import secrets

from oauth2_provider.scopes import BaseScopes

from connect.scopes import SCOPES

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
