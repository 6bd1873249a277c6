"""How each authentication scheme appears in the OpenAPI document (drf-spectacular extensions)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension

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


class APIKeyRefusedForPersonsScheme(APIKeyScheme):
    """Person-only endpoints recognise an API key only to refuse it (403 person_required): not offered there."""

    target_class = "connect.api.permissions.APIKeyRefusedForPersons"

    def get_security_requirement(self, auto_schema):
        return None


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


class StrictSerializerScheme(OpenApiSerializerExtension):
    """Input serializers refuse fields they do not know (``StrictSerializer``): the document says so
    (``additionalProperties: false``), so clients and generated tests do not send what would be refused."""

    target_class = "connect.api.views.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs (e.g. 'missing_scope')."},
                "message": {"type": "string", "description": "For people."},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

_ERROR_RESPONSES = {
    "400": "Invalid input (validation_error, malformed_request...)",
    "401": "No valid credential",
    "403": "The credential lacks the scope, or the action is not allowed",
    "402": "The organization's plan does not allow it (plan_limit: details name the limit, the allowed and current "
    "figures and the upgrade_url), or the organization is read-only",
    "404": "Not found, or belongs to another organization",
    "429": "Too many attempts, or past the plan's API requests per minute (rate_limited, with Retry-After)",
}


def add_error_responses(result, generator, request, public):
    """Document the one error shape on every operation (drf-spectacular post-processing hook)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _ERROR_RESPONSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
    return result
