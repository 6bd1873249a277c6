"""How each authentication scheme appears in the OpenAPI document (drf-spectacular extensions)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from connect.scopes import SCOPES


def _required_scope(auto_schema) -> list[str]:
    scopes = getattr(auto_schema.view, "required_scopes", {}) or {}
    scope = scopes.get(auto_schema.method.upper())
    return [scope] if scope else []


class NativeTokenScheme(OpenApiAuthenticationExtension):
    target_class = "connect.api.authentication.NativeTokenAuthentication"
    name = "nativeToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cat_...",
            "description": "Access token of a native app, from POST /api/v1/auth/token; refresh it with "
            "POST /api/v1/auth/refresh. Acts with the person's role in the organization named by X-Organization.",
        }


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "connect.api.authentication.APIKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cnk_...",
            "description": "An organization's API key, sent as 'Authorization: Bearer cnk_...'. Acts in that "
            "organization with the key's scopes.",
        }


class OAuth2Scheme(OpenApiAuthenticationExtension):
    target_class = "connect.api.authentication.OAuth2TokenAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema):
        return {self.name: _required_scope(auto_schema)}

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "OAuth2 applications of an organization. PKCE is required for the authorization code.",
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token/", "scopes": SCOPES},
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize/",
                    "tokenUrl": "/oauth/token/",
                    "refreshUrl": "/oauth/token/",
                    "scopes": SCOPES,
                },
            },
        }


class CookieScheme(OpenApiAuthenticationExtension):
    target_class = "connect.api.authentication.CookieAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The web app's session (unsafe methods also need the CSRF token).",
        }
