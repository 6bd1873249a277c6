"""Token introspection and revocation stay inside the calling client's organization (issue 10, vulnerability 4).

Attacker's side first: Globex's client, with its own valid credentials, asks about and tries to revoke a token of
Acme's. Then the legitimate path: Acme's clients still introspect and revoke Acme's tokens.
"""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from integrations.credentials import services
from integrations.models import Application
from orgs.tenancy import org_context_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_secret_hashing(settings):
    """Client secrets are hashed like passwords; the default hasher's million rounds per check make these tests
    slow, and which hasher runs does not matter to who may introspect what."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _client(owner, org_slug: str, *, client_type: str = Application.CLIENT_CONFIDENTIAL) -> tuple[Application, str]:
    grant = Application.GRANT_CLIENT_CREDENTIALS
    if client_type == Application.CLIENT_PUBLIC:
        grant = Application.GRANT_AUTHORIZATION_CODE
    return services.oauth_application_create(
        org=org_context_for_user(owner, org_slug),
        name=f"{org_slug} sync",
        grant_type=grant,
        client_type=client_type,
        scopes=["members:read"],
        redirect_uris=["https://app.example/callback"],
    )


def _basic(app: Application, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()


def _token(app: Application, secret: str) -> str:
    response = APIClient().post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "members:read"},
        HTTP_AUTHORIZATION=_basic(app, secret),
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def _introspect(app: Application, secret: str, token: str, *, how: str = "basic") -> dict:
    client = APIClient()
    if how == "basic":
        response = client.post("/oauth/introspect/", {"token": token}, HTTP_AUTHORIZATION=_basic(app, secret))
    elif how == "body":
        response = client.post(
            "/oauth/introspect/", {"token": token, "client_id": app.client_id, "client_secret": secret}
        )
    else:  # the query string, as the toolkit also accepts
        response = client.get("/oauth/introspect/", {"token": token}, HTTP_AUTHORIZATION=_basic(app, secret))
    assert response.status_code == 200, response.content
    return response.json()


def _revoke(app: Application, secret: str, token: str) -> int:
    return (
        APIClient().post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=_basic(app, secret)).status_code
    )


def _works(token: str) -> bool:
    return APIClient().get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.fixture
def acme_app(alice):
    return _client(alice, "acme")


@pytest.fixture
def globex_app(gina):
    return _client(gina, "globex")


@pytest.mark.parametrize("how", ["basic", "body", "query"])
def test_another_organizations_client_learns_nothing_about_a_token(acme_app, globex_app, how):
    token = _token(*acme_app)
    answer = _introspect(*globex_app, token, how=how)
    assert answer == {"active": False}  # exactly what an unknown token gets
    assert _introspect(*globex_app, "coa_no-such-token", how=how) == {"active": False}


def test_a_public_client_of_the_same_organization_learns_nothing(acme_app, alice):
    public_app, public_secret = _client(alice, "acme", client_type=Application.CLIENT_PUBLIC)
    assert _introspect(public_app, public_secret, _token(*acme_app)) == {"active": False}


def test_the_organizations_own_clients_introspect_its_tokens(acme_app, alice):
    token = _token(*acme_app)
    own = _introspect(*acme_app, token)
    assert own["active"] is True and own["client_id"] == acme_app[0].client_id and own["scope"] == "members:read"
    # Another confidential client of the same organization (its resource server, say) may ask too.
    sibling = _client(alice, "acme")
    assert _introspect(*sibling, token)["active"] is True


def test_introspection_still_needs_credentials(acme_app):
    token = _token(*acme_app)
    assert APIClient().post("/oauth/introspect/", {"token": token}).status_code in (401, 403)
    wrong = APIClient().post(
        "/oauth/introspect/", {"token": token}, HTTP_AUTHORIZATION=_basic(acme_app[0], "wrong-secret")
    )
    assert wrong.status_code in (401, 403)


def test_another_organizations_client_cannot_revoke_a_token(acme_app, globex_app):
    token = _token(*acme_app)
    assert _revoke(*globex_app, token) == 200  # RFC 7009: the same answer as for a token it may revoke
    assert _works(token)
    assert _introspect(*acme_app, token)["active"] is True


def test_a_client_revokes_its_own_token(acme_app):
    token = _token(*acme_app)
    assert _works(token)
    assert _revoke(*acme_app, token) == 200
    assert not _works(token)
    assert _introspect(*acme_app, token) == {"active": False}
