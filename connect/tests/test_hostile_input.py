"""Hostile input over HTTP (issue 10, items 4 and 5), from the attacker's side: each request below answered 500 (or was
silently taken for something else) before; now each gets a clear 4xx in the one error shape and changes nothing, while
the legitimate request beside it still works.

The NUL-byte cases crash only on PostgreSQL (SQLite stores NUL), so run this file with DATABASE_URL set too; the
route-matching checks fail on either database.
"""

import base64
import re
from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from connect.api.parsers import MAX_JSON_DEPTH, loads_bounded
from integrations.sso.services import make_token
from integrations.tests.factories import OrganizationSSOFactory, WebhookEndpointFactory
from sessions.models import Status, SupportSession

pytestmark = pytest.mark.django_db

CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


@pytest.fixture
def owner(acme, alice):
    client = APIClient(raise_request_exception=False)
    client.force_login(alice)
    return client


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    if code:
        assert error["code"] == code, error
    return error


def nested(depth: int, *, kind: str = "list") -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


# --- 1. Deeply nested JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [nested(100_000), nested(100_000, kind="object")], ids=["list", "object"])
def test_json_nested_100000_deep_is_a_malformed_request_not_a_crash(owner, acme, body):
    response = owner.generic("POST", "/api/v1/sessions", body.encode(), content_type="application/json")
    assert_error(response, 400, "malformed_request")
    assert not SupportSession.objects.for_org(acme).exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/sessions", "/api/v1/join", "/api/v1/auth/token", "/api/v1/invitations", "/api/v1/webhooks"]
)
def test_nesting_is_bounded_on_every_endpoint_even_where_the_decoder_would_cope(owner, path):
    body = '{"customer_name": ' + nested(MAX_JSON_DEPTH) + "}"  # one level more than the bound, far below a crash
    response = owner.generic("POST", path, body.encode(), content_type="application/json")
    error = assert_error(response, 400, "malformed_request")
    assert str(MAX_JSON_DEPTH) in error["message"]


def test_nesting_up_to_the_bound_is_parsed_and_an_ordinary_body_works(owner):
    within = '{"customer_name": ' + nested(MAX_JSON_DEPTH - 1) + "}"
    response = owner.generic("POST", "/api/v1/sessions", within.encode(), content_type="application/json")
    assert_error(response, 400, "validation_error")  # parsed: the serializer, not the parser, refuses it
    response = owner.post("/api/v1/sessions", {"customer_name": "Carl"}, format="json")
    assert response.status_code == 201 and response.json()["customer_name"] == "Carl"


def test_the_bounded_loader_refuses_nan_deep_and_accepts_ordinary_json():
    assert loads_bounded('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    for text in ["NaN", nested(MAX_JSON_DEPTH + 1), nested(100_000), nested(100_000, kind="object")]:
        with pytest.raises(ValueError):
            loads_bounded(text)


def test_bizgaze_sso_token_with_deeply_nested_claims_is_refused(client, acme):
    OrganizationSSOFactory(organization=acme, bizgaze_secret="s" * 32)
    payload = base64.urlsafe_b64encode(nested(1500).encode()).rstrip(b"=").decode()  # fits the 4096-character bound
    response = client.get("/sso", {"token": f"{payload}.c2ln"})
    assert response.status_code == 401
    assert b"malformed" in response.content


def test_bizgaze_sso_token_with_a_nul_in_a_claim_is_refused(client, acme):
    OrganizationSSOFactory(organization=acme, bizgaze_secret="s" * 32)
    token = make_token("s" * 32, {"email": "dan@acme.test", "org": "acme\x00", "nonce": "n", "exp": 2**31})
    assert client.get("/sso", {"token": token}).status_code == 401


# --- 2. NUL bytes in ids, query parameters and form fields --------------------------------------------------------


def _id_routes() -> list[str]:
    """Every route of ours that takes an identifier, e.g. 'api/v1/sessions/<public_id:session_id>'."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    ours = ("api/v1/", "o/", "s/", "invitations/", "accounts/oidc/")
    return [
        route
        for route in walk(get_resolver().url_patterns)
        if route.startswith(ours) and any(name != "org_slug" for _c, name in CONVERTER.findall(route))
    ]


def _with(route: str, value: str) -> str:
    return "/" + CONVERTER.sub(lambda m: "acme" if m.group(2) == "org_slug" else value, route)


def test_every_id_route_uses_the_public_id_converter():
    routes = _id_routes()
    assert len([r for r in routes if r.startswith("api/v1/")]) >= 10
    for route in routes:
        for converter, name in CONVERTER.findall(route):
            expected = "slug" if name == "org_slug" else "public_id"
            assert converter == expected, route


@pytest.mark.parametrize("bad", ["ses_%00", "%00", "x'--", "a" * 129, "ses_%C3%A9"])
def test_a_malformed_id_matches_no_route(bad):
    for route in _id_routes():
        with pytest.raises(Resolver404):
            resolve(unquote(_with(route, bad)))
        assert resolve(_with(route, "ses_abc-DEF_123"))  # a well-formed id still routes


def test_nul_in_a_path_id_is_404_in_the_one_shape_on_every_route(owner, acme):
    for route in _id_routes():
        path = _with(route, "ses_%00")
        for method in ("get", "post"):
            response = getattr(owner, method)(path, HTTP_ACCEPT="application/json")
            assert_error(response, 404, "not_found")


def test_nul_anywhere_in_a_path_is_404_also_on_routes_of_libraries(owner):
    for path in ["/accounts/confirm-email/%00/", "/join/%00", "/api/v1/sessions/%00/end", "/%00"]:
        assert_error(owner.get(path), 404, "not_found")


def test_a_real_id_still_reaches_its_object(owner, alice):
    session = owner.post("/api/v1/sessions", {}, format="json").json()
    assert owner.get(f"/api/v1/sessions/{session['id']}").status_code == 200
    assert owner.get(f"/o/acme/sessions/{session['id']}/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions?created_after=%00",
        "/api/v1/sessions?status=%00",
        "/api/v1/members?limit=5&x%00=1",
        "/oauth/authorize/?client_id=%00&response_type=code",
        "/o/acme/sessions/?q=%00",
    ],
)
def test_nul_in_a_query_parameter_is_400_naming_it(owner, path):
    error = assert_error(owner.get(path), 400, "validation_error")
    assert error["details"]["field"] in ("created_after", "status", "x\x00", "client_id", "q")


def test_nul_in_the_join_page_name_is_a_form_error_and_joins_nobody(owner, acme, client):
    session = owner.post("/api/v1/sessions", {}, format="json").json()
    response = client.post("/join", {"code": session["code"], "confirm": "1", "name": "Carl\x00"})
    assert response.status_code == 400
    assert b"Null characters are not allowed" in response.content
    stored = SupportSession.objects.for_org(acme).get(public_id=session["id"])
    assert stored.status == Status.WAITING and not stored.customer_token_hash
    # The customer who types their name joins.
    response = client.post("/join", {"code": session["code"], "confirm": "1", "name": "Carl"})
    assert response.status_code == 302 and response.url == f"/s/{session['id']}/"


def test_nul_in_the_join_page_code_is_a_form_error(client):
    response = client.post("/join", {"code": "123\x00456789"})
    assert response.status_code == 400 and b"Null characters are not allowed" in response.content


def test_nul_in_the_customer_name_of_a_new_session_is_a_form_error(owner, acme):
    response = owner.post("/o/acme/sessions/", {"customer_name": "Carl\x00"})
    assert response.status_code == 400 and b"Null characters are not allowed" in response.content
    assert not SupportSession.objects.for_org(acme).exists()
    response = owner.post("/o/acme/sessions/", {"customer_name": "Carl"})
    assert response.status_code == 302 and SupportSession.objects.for_org(acme).get().customer_name == "Carl"


@pytest.mark.parametrize("login", ["alice\x00@acme.test", "alice@acme\x00.test"])
def test_nul_in_the_sign_in_form_is_a_form_error(alice, login):
    client = Client()
    response = client.post("/accounts/login/", {"login": login, "password": "x"})
    assert response.status_code in (200, 400)
    assert b"Null characters are not allowed" in response.content
    assert "_auth_user_id" not in client.session


# --- 3. Date-time query parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "created_after=2020-01-01T00:00:00%2B99:00",
        "created_before=2020-01-01T00:00:00-24:00",
        "created_after=0001-01-01T00:00:00%2B01:00",
        "created_before=9999-12-31T23:59:59-01:00",
        "created_after=2020-13-45T00:00:00Z",
        "created_after=yesterday",
    ],
)
def test_a_date_time_that_is_not_one_is_400_naming_the_parameter(owner, query):
    error = assert_error(owner.get(f"/api/v1/sessions?{query}"), 400, "validation_error")
    assert error["details"]["field"] == query.split("=")[0]
    assert query.split("=")[0] in error["message"]


def test_date_time_filters_still_filter(owner):
    owner.post("/api/v1/sessions", {}, format="json")
    for query, count in [
        ("created_after=2020-01-01T00:00:00Z", 1),
        ("created_after=2020-01-01T00:00:00", 1),  # no offset: UTC
        ("created_after=2020-01-01T00:00:00%2B05:30", 1),
        ("created_before=2020-01-01T00:00:00Z", 0),
    ]:
        response = owner.get(f"/api/v1/sessions?{query}")
        assert response.status_code == 200 and len(response.json()["results"]) == count, query


# --- 4. Bodies the parser cannot read -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"customer_name=Carl", "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="customer_name"\r\n\r\nCarl\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        (b'{"customer_name": "Carl"}', "text/plain"),
        (b'{"customer_name": "Carl"}', ""),
    ],
    ids=["form", "multipart", "text", "none"],
)
def test_a_body_the_api_cannot_read_is_415_and_creates_nothing(owner, acme, body, content_type):
    response = owner.generic("POST", "/api/v1/sessions", body, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert not SupportSession.objects.for_org(acme).exists()


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_a_body_that_is_not_a_form_posted_to_a_page_is_415_not_an_empty_form(owner, acme, content_type):
    response = owner.generic("POST", "/o/acme/sessions/", b'{"customer_name": "Carl"}', content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert not SupportSession.objects.for_org(acme).exists()  # before: a session with no customer name


def test_a_form_posted_to_a_page_still_works(owner, acme):
    response = owner.post("/o/acme/sessions/", "customer_name=Carl", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302 and SupportSession.objects.for_org(acme).get().customer_name == "Carl"


def test_the_oauth_token_endpoint_still_takes_its_form(acme):
    # CSRF-exempt endpoints parse their own types: the page rule does not apply to them.
    response = Client().post("/oauth/token/", {"grant_type": "client_credentials"})
    assert response.status_code in (400, 401) and "error" in response.json()


def test_a_chunked_body_without_a_length_is_411_under_wsgi(owner, acme):
    # Under WSGI, Django would read such a body as empty; under ASGI the body guard gives it its length
    # (test_server_limits.py).
    response = owner.generic("POST", "/api/v1/sessions", b"", HTTP_TRANSFER_ENCODING="chunked")
    assert_error(response, 411, "length_required")
    assert not SupportSession.objects.for_org(acme).exists()


def test_a_declared_length_over_the_limit_is_413(owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner.generic(
        "POST", "/api/v1/sessions", b'{"customer_name": "' + b"x" * 2000 + b'"}', "application/json"
    )
    assert_error(response, 413, "payload_too_large")


def test_nul_in_the_ids_a_page_reads_from_its_form_names_nothing(owner, acme, alice):
    """The webhooks page and the OAuth2 consent page read ids straight from the posted form."""
    from integrations.models import WebhookEndpoint

    client = Client(raise_request_exception=False)
    client.force_login(alice)
    endpoint = WebhookEndpointFactory(organization=acme)
    redeliver = client.post(
        "/o/acme/webhooks/", {"action": "redeliver", "endpoint": endpoint.public_id, "delivery": "dlv_\x00"}
    )
    assert redeliver.status_code == 404
    missing_endpoint = client.post("/o/acme/webhooks/", {"action": "delete", "endpoint": "whe_\x00"})
    assert missing_endpoint.status_code == 404 and WebhookEndpoint.objects.for_org(acme).filter(pk=endpoint.pk).exists()
    consent = client.post("/oauth/authorize/", {"client_id": "app\x00", "response_type": "code"})
    assert consent.status_code < 500
