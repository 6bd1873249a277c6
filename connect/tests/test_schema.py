"""The OpenAPI document: valid OpenAPI 3, every /api/v1 endpoint in it, each with its security schemes."""

import re

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

PUBLIC_OPERATIONS = {
    "/api/v1/auth/token",
    "/api/v1/auth/device",
    "/api/v1/auth/refresh",
    "/api/v1/auth/revoke",
    "/api/v1/join",
    "/api/v1/join/attend",
    "/api/v1/machines/enroll",
    "/api/v1/meetings/join",
    "/api/v1/meetings/invite",
    "/api/v1/meetings/livekit/webhook",
}
ALL_SCHEMES = {"nativeToken", "apiKey", "oauth2", "cookieAuth"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _api_routes() -> set[str]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    routes = set()
    for route in walk(get_resolver().url_patterns):
        if route.startswith("api/v1/") and not route.startswith(("api/v1/schema", "api/v1/docs")):
            routes.add("/" + re.sub(r"<\w+:(\w+)>", r"{\1}", route))
    return routes


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_every_endpoint_is_described(schema):
    assert _api_routes() == set(schema["paths"])


def test_every_operation_names_its_security_schemes(schema):
    defined = set(schema["components"]["securitySchemes"])
    assert defined == ALL_SCHEMES
    assert (
        schema["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token/"
    )
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {name for requirement in operation.get("security", []) for name in requirement}
            if path in PUBLIC_OPERATIONS:
                assert names <= {""} or not names, (path, method)
            elif path in {"/api/v1/me", "/api/v1/me/export", "/api/v1/devices", "/api/v1/devices/{device_id}"}:
                assert names == ALL_SCHEMES - {"apiKey"}, (path, method, names)  # about a person
            else:
                assert names == ALL_SCHEMES, (path, method, names)


def test_oauth_requirement_names_the_scope_of_each_operation(schema):
    members = schema["paths"]["/api/v1/members/{member_id}"]
    assert {"oauth2": ["members:write"]} in members["patch"]["security"]
    assert {"oauth2": ["members:read"]} in members["get"]["security"]


def test_browsable_reference_is_served_without_a_cdn(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "http://" not in html and "https://" not in html


def test_every_operation_documents_the_error_shape(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
