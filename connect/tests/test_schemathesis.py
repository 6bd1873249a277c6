"""Schemathesis over the whole ``/api/v1`` OpenAPI document: every operation, generated and mutated inputs, as the
owner of an organization with data in it. No request may answer a server error, and every answer must match the
response the document declares for its status.

Bounded for CI: a few examples per operation (``MAX_EXAMPLES`` plus Schemathesis' boundary and mutation cases,
about 1,500 requests in all), no example database, derandomized so a run is reproducible: about 35 s on SQLite and
50 s on PostgreSQL and Redis on 2 busy cores. Run once with the owner's API key instead of the token (edit ``world``)
to fuzz the organization-credential paths too.

No traffic may leave the machine. Webhook endpoints the generator creates get loopback IP literals instead of the
host names it makes up (``0.com``), the commit callbacks that deliver events run, and the outbound guard refuses
loopback (the receiver allowance, ``CONNECT_OUTBOUND_ALLOWED_NETWORKS``, is empty here); ``socket.getaddrinfo``
fails the test if anything asks it to resolve a name.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from connect.scopes import SCOPES
from integrations.credentials import services as integration_services
from integrations.models import Application, WebhookEndpoint
from integrations.tests.factories import WebhookEndpointFactory
from integrations.webhooks import services as webhooks
from orgs import devices
from orgs import services as org_services
from orgs.tenancy import org_context_for_user
from sessions import services as session_services

MAX_EXAMPLES = 10
LOOPBACK_RECEIVER = "127.0.0.1:9"  # the discard port: nothing listens, and the outbound guard refuses it anyway

# Real identifiers, so generated requests also reach the objects (not only 404): filled by the `world` fixture
# and read while examples are drawn.
KNOWN_IDS: dict[str, list[str]] = {}
RESOLVED_NAMES: list[str] = []


def _is_ip_literal(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return host is None  # getaddrinfo(None, port): the local wildcard, no lookup
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def no_name_resolution(monkeypatch):
    """Any attempt to resolve a host name (rather than an IP literal) is refused and fails the test."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if not _is_ip_literal(host):
            RESOLVED_NAMES.append(repr(host))
            raise socket.gaierror(socket.EAI_NONAME, f"test_schemathesis: no name lookups ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    RESOLVED_NAMES.clear()
    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert RESOLVED_NAMES == [], f"Name lookups were attempted: {RESOLVED_NAMES}"


@pytest.fixture
def one_connection():
    """The WSGI handler closes the database connection around each request, which would end the test's
    transaction; Django's own test client disconnects the same signal."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fast_passwords(settings):
    """The people below get passwords hashed in microseconds (PBKDF2 costs a second each on a busy CI machine)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(fast_passwords, acme, alice, bob, globex, gina):
    """Acme with an agent, a session, an invitation, an API key, OAuth apps, a webhook endpoint with a delivery and
    a signed-in device; Globex with its own objects (which must stay out of reach). Returns the owner's token."""
    owner = org_context_for_user(alice, "acme")
    actor = session_services.Actor(kind="agent", user=alice)
    session = session_services.session_start(org=owner, actor=actor, customer_name="Customer")
    invitation, _token = org_services.invitation_create(
        organization=acme, inviter=alice, email="new@acme.test", role="agent"
    )
    key, _secret = integration_services.api_key_create(org=owner, name="everything", scopes=list(SCOPES))
    app, _app_secret = integration_services.oauth_application_create(
        org=owner, name="CRM", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=["members:read"]
    )
    # Stored directly: saving refuses a loopback URL (as delivery does), and deliveries to this one must meet the guard.
    endpoint = WebhookEndpointFactory(organization=acme, url=f"http://{LOOPBACK_RECEIVER}/hook")
    webhooks.endpoint_send_test(endpoint=endpoint)
    other_device = devices.device_sign_in(user=alice, name="Old phone", platform="ios").device

    globex_owner = org_context_for_user(gina, "globex")
    globex_session = session_services.session_start(
        org=globex_owner, actor=session_services.Actor(kind="agent", user=gina)
    )
    globex_key, _ = integration_services.api_key_create(org=globex_owner, name="theirs", scopes=["members:read"])

    KNOWN_IDS.clear()
    KNOWN_IDS.update(
        session_id=[session.public_id, globex_session.public_id],
        member_id=[bob.public_id, alice.public_id, gina.public_id],
        invitation_id=[invitation.public_id],
        key_id=[key.public_id, globex_key.public_id],
        client_id=[app.client_id],
        endpoint_id=[endpoint.public_id],
        delivery_id=list(endpoint.deliveries.values_list("public_id", flat=True)),
        device_id=[other_device.public_id],
    )
    # The credential under test is a device of its own, which no generated request knows the id of.
    return devices.device_sign_in(user=alice, name="Schemathesis", platform="android").access_token


def _load_schema():
    from connect.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


schema = _load_schema()


@schema.hook
def flatmap_path_parameters(context, path_parameters: dict[str, Any]):
    # Each id is the generated value or one of the real ones (Acme's and Globex's).
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {name: st.sampled_from([value, *KNOWN_IDS.get(name, [])]) for name, value in path_parameters.items()}
    )


@schema.hook
def flatmap_body(context, body: Any):
    # Scopes are free strings in the document; also try real ones, so keys and applications get created.
    if isinstance(body, dict) and isinstance(body.get("scopes"), list):
        real = st.lists(st.sampled_from(sorted(SCOPES)), min_size=1, max_size=3, unique=True)
        return st.one_of(st.just(body), real.map(lambda scopes: {**body, "scopes": scopes}))
    return st.just(body)


def _before_request(case) -> None:
    """Applied to every case, whichever phase made it (some phases bypass the generation hooks)."""
    if case.operation.path.startswith("/api/v1/webhooks") and isinstance(case.body, dict):
        if isinstance(case.body.get("url"), str):
            case.body["url"] = _on_loopback(case.body["url"])
    # A made-up X-Organization only ever answers 404: name Acme, so the handlers behind it run.
    for name in list(case.headers or {}):
        if name.lower() == "x-organization":
            case.headers[name] = "acme"


def _on_loopback(url: str) -> str:
    """``url`` with its host replaced by a loopback IP literal unless it already is an IP literal."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url  # not a URL: refused, never stored
    if host is None or _is_ip_literal(host):
        return url
    return urlunsplit((parts.scheme, LOOPBACK_RECEIVER, parts.path, parts.query, ""))


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_no_server_error(
    case, world, one_connection, no_name_resolution, django_capture_on_commit_callbacks
):
    _before_request(case)
    with django_capture_on_commit_callbacks(execute=True):  # what a commit would send (events, webhooks) runs too
        case.call_and_validate(
            headers={"Authorization": f"Bearer {world}"},
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )
    hosts = [
        urlsplit(url).hostname
        for url in WebhookEndpoint.objects.unscoped("every endpoint the fuzz created, in any organization").values_list(
            "url", flat=True
        )
    ]
    assert all(_is_ip_literal(host) for host in hosts), f"webhook endpoints on host names: {hosts}"


def test_the_guard_sees_a_delivery_that_would_resolve_a_name(
    acme, settings, no_name_resolution, django_capture_on_commit_callbacks
):
    """The guard above can fail: an endpoint on a host name, delivered to, is caught before any lookup."""
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    endpoint = WebhookEndpointFactory(organization=acme, url="http://receiver.invalid/hook")  # not resolved at save
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint)
    assert RESOLVED_NAMES == ["'receiver.invalid'"]
    RESOLVED_NAMES.clear()  # seen and expected here; the fixture fails any other test that leaves one
