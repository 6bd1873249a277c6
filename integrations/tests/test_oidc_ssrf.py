"""An organization's OpenID Connect issuer cannot make the server reach our own network (issue 10, vulnerability 3).

Attacker's side first: an admin saves an internal issuer; an issuer stored anyway (bypassing the form) is visited
anonymously; a discovery document names internal endpoints. Each is checked against real servers on loopback that
record what reaches them: 127.0.0.1 stands for the identity provider when a test allows it, 127.0.0.2 for a service
inside our network, never allowed.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pytest
from allauth.socialaccount.models import SocialApp
from django.urls import reverse

from connect.errors import ApplicationError
from connect.tests.loopback import LoopbackServer, json_answer
from integrations.models import OrganizationSSO
from integrations.sso.services import oidc_configure
from orgs.models import User

from .test_oidc import IdentityProvider, configure_acme, sign_in_through_idp

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/oidc/org-acme/login/"
REFUSED = "points to an address that is not allowed"
UNREACHABLE = "could not be reached or gave an answer that cannot be used"


@pytest.fixture(autouse=True)
def nothing_internal_allowed(settings):
    """Production's rule (no network allowed), with plain http so that loopback servers can be used."""
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = []
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True


@pytest.fixture
def internal():
    """A service inside our network that answers like an identity provider would, and records every request."""

    def answer(method, path):
        return json_answer({"issuer": "x", "authorization_endpoint": "http://127.0.0.2/a", "keys": []})

    server = LoopbackServer("127.0.0.2", answer=answer)
    yield server
    server.close()


@pytest.fixture
def loopback_idp(acme, settings):
    """The test identity provider on 127.0.0.1, allowed explicitly (as an operator allows an internal one)."""
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    provider = IdentityProvider()
    configure_acme(acme, provider.url)
    yield provider
    provider.close()


def _store_issuer_bypassing_validation(organization, issuer: str) -> None:
    """As a row written before validation existed, or by hand, would be."""
    OrganizationSSO.objects.create(
        organization=organization,
        oidc_issuer=issuer,
        oidc_client_id="c",
        oidc_client_secret="s",
        email_domains=["acme-corp.test"],
    )
    SocialApp.objects.create(
        provider="connect_oidc",
        provider_id="org-acme",
        name="Acme",
        client_id="c",
        secret="s",
        settings={"server_url": issuer},
    )


def _assert_clear_refusal(response, text: str) -> None:
    assert response.status_code == 502, response.content[:300]
    assert "Location" not in response
    assert text in response.content.decode()


# --- Saving the issuer ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    [
        "http://127.0.0.2:{port}/",
        "http://localhost:{port}/",
        "http://[::ffff:127.0.0.2]:{port}/",
        "http://[2002:7f00:2::]:{port}/",  # 6to4 of 127.0.0.2
        "http://169.254.169.254/latest",
        "http://10.0.0.5/realms/acme",
    ],
)
def test_an_admin_cannot_save_an_internal_issuer(client, acme, carol, internal, issuer):
    OrganizationSSO.objects.create(organization=acme, verified_domains=["acme-corp.test"])
    client.force_login(carol)
    response = client.post(
        reverse("org_settings", args=["acme"]),
        {
            "section": "sso",
            "oidc_issuer": issuer.format(port=internal.port),
            "oidc_client_id": "connect",
            "oidc_client_secret": "s3cret",
            "email_domains": ["acme-corp.test"],
            "default_role": "agent",
        },
    )
    assert response.status_code == 400
    assert "The issuer URL cannot be used" in response.content.decode()
    assert "not a public address" in response.content.decode()
    assert OrganizationSSO.objects.get(organization=acme).oidc_issuer == ""
    assert not SocialApp.objects.exists()
    assert internal.requests == []


def test_plain_http_issuers_are_refused_outside_debug(acme, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    with pytest.raises(ApplicationError) as refused:
        configure_acme(acme, "http://idp.acme-corp.test")
    assert refused.value.code == "invalid_issuer" and refused.value.details == {"field": "oidc_issuer"}
    assert "Only https URLs are allowed" in refused.value.message
    assert not OrganizationSSO.objects.for_org(acme).exists() and not SocialApp.objects.exists()


def test_an_allowed_issuer_is_saved(acme, settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    config = oidc_configure(
        organization=acme,
        issuer="http://127.0.0.1:8443/realms/acme/",
        client_id="c",
        client_secret="s",
        email_domains=["acme-corp.test"],
    )
    assert config.oidc_issuer == "http://127.0.0.1:8443/realms/acme"
    assert SocialApp.objects.get(provider_id="org-acme").settings == {"server_url": config.oidc_issuer}


# --- Signing in -------------------------------------------------------------------------------------


def test_a_stored_internal_issuer_is_never_contacted(client, acme, internal, settings):
    _store_issuer_bypassing_validation(acme, internal.url)
    _assert_clear_refusal(client.get(LOGIN_URL), REFUSED)
    assert internal.requests == []
    # The same visit with the network allowed does reach the server: the test above could fail.
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client.get(LOGIN_URL)
    assert internal.requests[0]["path"] == "/.well-known/openid-configuration"


def test_the_login_router_ends_on_the_same_refusal(client, acme, internal):
    _store_issuer_bypassing_validation(acme, internal.url)
    routed = client.post(reverse("account_login"), {"login": "dan@acme-corp.test", "password": ""})
    assert routed.status_code == 302 and routed["Location"] == LOGIN_URL
    _assert_clear_refusal(client.get(routed["Location"]), REFUSED)
    assert internal.requests == []


def test_an_unreachable_issuer_answers_502(client, acme, settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure_acme(acme, f"http://127.0.0.1:{port}")  # nothing listens there any more
    _assert_clear_refusal(client.get(LOGIN_URL), UNREACHABLE)


@pytest.mark.parametrize(
    "answer",
    [
        (500, {}, b"Internal Server Error"),
        (200, {"Content-Type": "text/html"}, b"<html>login</html>"),
        json_answer(["not", "an", "object"]),
        json_answer({"issuer": "x", "token_endpoint": "http://127.0.0.1/t"}),  # no authorization_endpoint
        (200, {}, b"[" * 100_000),  # nested past the recursion limit
        (200, {}, b"{}" + b" " * (600 * 1024)),  # past the size limit
    ],
    ids=["http-500", "html", "json-list", "missing-endpoints", "deeply-nested", "too-large"],
)
def test_a_broken_issuer_answers_502(client, acme, settings, answer):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    broken = LoopbackServer("127.0.0.1", answer=lambda method, path: answer)
    try:
        configure_acme(acme, broken.url)
        _assert_clear_refusal(client.get(LOGIN_URL), UNREACHABLE)
        assert broken.requests[0]["path"] == "/.well-known/openid-configuration"
    finally:
        broken.close()


def test_a_discovery_redirect_to_an_internal_address_is_not_followed(client, acme, internal, settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    redirecting = LoopbackServer("127.0.0.1", answer=lambda method, path: (302, {"Location": internal.url}, b""))
    try:
        configure_acme(acme, redirecting.url)
        _assert_clear_refusal(client.get(LOGIN_URL), UNREACHABLE)
    finally:
        redirecting.close()
    assert internal.requests == []


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.2:{port}/authorize", "http://169.254.169.254/authorize", "http://[::1]:{port}/authorize"],
)
def test_visitors_are_never_sent_to_an_internal_authorization_endpoint(client, loopback_idp, internal, endpoint):
    loopback_idp.discovery_override = {"authorization_endpoint": endpoint.format(port=internal.port)}
    _assert_clear_refusal(client.get(LOGIN_URL), REFUSED)


@pytest.mark.parametrize("key", ["token_endpoint", "jwks_uri", "userinfo_endpoint"])
def test_internal_token_keys_and_userinfo_endpoints_are_never_contacted(client, loopback_idp, internal, key, settings):
    loopback_idp.discovery_override = {key: f"{internal.url}/{key}"}
    response = sign_in_through_idp(client, loopback_idp)
    _assert_clear_refusal(response, REFUSED)
    assert internal.requests == []
    assert not User.objects.filter(email="dan@acme-corp.test").exists()
    # With the network allowed the same sign-in does reach it: the test above could fail.
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client.logout()
    sign_in_through_idp(client, loopback_idp)
    assert [urlparse(r["path"]).path for r in internal.requests] == [f"/{key}"]


def test_a_sign_in_through_an_allowed_issuer_still_works(client, loopback_idp):
    response = sign_in_through_idp(client, loopback_idp)
    assert response.status_code == 302, response.content[:300]
    assert User.objects.filter(email="dan@acme-corp.test").exists()
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 200


# --- What a broken or hostile identity provider answers --------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"token_override": {"id_token": None}},  # allauth alone would sign in from userinfo, unverified
        {"userinfo_override": {"sub": "someone-else", "email": "dan@acme-corp.test"}},
        {"claims_override": {"sub": None}},
    ],
    ids=["no-id-token", "userinfo-for-another-subject", "id-token-without-subject"],
)
def test_a_sign_in_the_id_token_does_not_vouch_for_is_refused(client, loopback_idp, change):
    for attribute, value in change.items():
        setattr(loopback_idp, attribute, value)
    response = sign_in_through_idp(client, loopback_idp)
    assert response.status_code < 500
    assert not User.objects.filter(email="dan@acme-corp.test").exists()
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 302
