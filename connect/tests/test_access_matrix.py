"""One access layer: a session cookie, a native bearer token, an API key and an OAuth2 client-credentials token
each reach what their scopes allow in their own organization, get 403 for a missing scope, and 404 for another
organization's objects."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from integrations.credentials import services as integration_services
from integrations.models import APIKey, Application
from orgs.models import Membership, Role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

READER_SCOPES = ["org:read", "members:read"]  # what a "member" role grants


def _native_token(client: APIClient, email: str) -> str:
    response = client.post(
        "/api/v1/auth/token",
        {"email": email, "password": PASSWORD, "device": {"name": "Pixel", "platform": "android"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()["access_token"]


def _oauth_client_credentials(client: APIClient, org_ctx, scopes: list[str]) -> str:
    app, secret = integration_services.oauth_application_create(
        org=org_ctx, name="CRM sync", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=scopes
    )
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": " ".join(scopes)},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert token.startswith("coa_")
    return token


def credential_client(kind: str, organization, owner, scopes: list[str]) -> APIClient:
    """An API client for ``organization`` carrying ``scopes`` through the given kind of credential."""
    client = APIClient()
    if kind in ("cookie", "native"):
        # People get scopes from their role: a "member" has exactly READER_SCOPES.
        assert scopes == READER_SCOPES
        person = UserFactory()
        Membership.objects.create(organization=organization, user=person, role=Role.MEMBER)
        if kind == "cookie":
            client.force_login(person)
        else:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {_native_token(APIClient(), person.email)}")
        return client
    owner_ctx = org_context_for_user(owner, organization.slug)
    if kind == "api_key":
        _key, secret = integration_services.api_key_create(org=owner_ctx, name="Zapier", scopes=scopes)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    elif kind == "oauth":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {_oauth_client_credentials(APIClient(), owner_ctx, scopes)}")
    return client


KINDS = ["cookie", "native", "api_key", "oauth"]


@pytest.fixture
def globex_key(globex, gina):
    key, _secret = integration_services.api_key_create(
        org=org_context_for_user(gina, "globex"), name="Globex key", scopes=["members:read"]
    )
    return key


@pytest.mark.parametrize("kind", KINDS)
def test_credential_reaches_what_its_scopes_allow(kind, acme, alice):
    client = credential_client(kind, acme, alice, READER_SCOPES)
    response = client.get("/api/v1/members")
    assert response.status_code == 200, response.json()
    emails = [m["email"] for m in response.json()["results"]]
    assert "alice@acme.test" in emails
    assert client.get(f"/api/v1/members/{alice.public_id}").json()["role"] == "owner"


@pytest.mark.parametrize("kind", KINDS)
def test_missing_scope_is_403(kind, acme, alice):
    client = credential_client(kind, acme, alice, READER_SCOPES)
    response = client.get("/api/v1/api-keys")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "missing_scope" and error["details"]["required_scope"] == "api_keys:read"
    response = client.post("/api/v1/invitations", {"email": "x@acme.test", "role": "member"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scope"] == "members:write"


@pytest.mark.parametrize("kind", KINDS)
def test_other_organizations_objects_are_404(kind, acme, alice, globex, gina):
    client = credential_client(kind, acme, alice, READER_SCOPES)
    response = client.get(f"/api/v1/members/{gina.public_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # Naming the other organization explicitly does not help either.
    response = client.get("/api/v1/members", HTTP_X_ORGANIZATION="globex")
    assert response.status_code == 404


@pytest.mark.parametrize("kind", ["api_key", "oauth"])
def test_write_scope_cannot_touch_another_organization(kind, acme, alice, globex_key):
    client = credential_client(kind, acme, alice, ["api_keys:read", "api_keys:write"])
    assert client.delete(f"/api/v1/api-keys/{globex_key.public_id}").status_code == 404
    globex_key.refresh_from_db()
    assert globex_key.revoked_at is None
    created = client.post("/api/v1/api-keys", {"name": "child", "scopes": ["api_keys:read"]}, format="json")
    assert created.status_code == 201
    assert APIKey.objects.for_org(acme).filter(public_id=created.json()["id"]).exists()


def test_no_credential_is_401(acme):
    response = APIClient().get("/api/v1/members")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer cat_not-a-real-token", "invalid_token"),
        ("Bearer cnk_not-a-real-key", "invalid_api_key"),
        ("Bearer coa_not-a-real-token", "invalid_token"),
        ("Bearer a b", "authentication_failed"),
    ],
)
def test_bad_bearer_tokens_are_401(header, code, acme):
    response = APIClient().get("/api/v1/members", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


def test_revoked_and_expired_api_keys_stop_working(acme, alice):
    from datetime import timedelta

    from django.utils import timezone

    ctx = org_context_for_user(alice, "acme")
    key, secret = integration_services.api_key_create(org=ctx, name="k", scopes=["members:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/members").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None and key.prefix == secret[:12]
    APIKey.objects.for_org(acme).filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/members").status_code == 401
    APIKey.objects.for_org(acme).filter(pk=key.pk).update(expires_at=None)
    integration_services.api_key_revoke(key=key)
    assert client.get("/api/v1/members").status_code == 401


def test_api_key_is_shown_once_and_stored_hashed(acme, alice):
    client = APIClient()
    client.force_login(alice)
    response = client.post("/api/v1/api-keys", {"name": "Zapier", "scopes": ["sessions:read"]}, format="json")
    assert response.status_code == 201
    secret = response.json()["key"]
    assert secret.startswith("cnk_") and response.json()["prefix"] == secret[:12]
    assert not APIKey.objects.for_org(acme).filter(key_hash=secret).exists()
    listed = client.get("/api/v1/api-keys").json()["results"]
    assert listed[0]["id"] == response.json()["id"] and "key" not in listed[0]


def test_credential_scopes_cannot_exceed_the_creator(acme, carol, bob):
    # An agent (bob) lacks api_keys:write entirely; an admin (carol) cannot grant unknown scopes.
    client = APIClient()
    client.force_login(bob)
    assert client.post("/api/v1/api-keys", {"name": "x", "scopes": ["sessions:read"]}, format="json").status_code == 403
    client.force_login(carol)
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["root:everything"]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_scopes"


def test_oauth_client_cannot_ask_for_more_than_its_scopes(acme, alice):
    ctx = org_context_for_user(alice, "acme")
    app, secret = integration_services.oauth_application_create(
        org=ctx, name="App", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=["members:read"]
    )
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    response = APIClient().post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "members:read api_keys:write"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_person_in_several_organizations_names_one(acme, globex, alice):
    Membership.objects.create(organization=globex, user=alice, role=Role.MEMBER)
    client = APIClient()
    client.force_login(alice)
    response = client.get("/api/v1/members")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "organization_required"
    assert response.json()["error"]["details"]["organizations"] == ["acme", "globex"]
    assert client.get("/api/v1/api-keys", HTTP_X_ORGANIZATION="acme").status_code == 200
    # In Globex alice is only a member: her owner scopes in Acme do not follow her there.
    assert client.get("/api/v1/api-keys", HTTP_X_ORGANIZATION="globex").status_code == 403


def test_cookie_writes_need_the_csrf_token(acme, alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["sessions:read"]}, format="json")
    assert response.status_code == 403
    assert not APIKey.objects.for_org(acme).exists()


def test_members_api_changes_roles_and_protects_the_last_owner(acme, alice, bob):
    client = APIClient()
    client.force_login(alice)
    response = client.patch(f"/api/v1/members/{bob.public_id}", {"role": "admin"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    response = client.delete(f"/api/v1/members/{alice.public_id}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "last_owner"
    assert client.delete(f"/api/v1/members/{bob.public_id}").status_code == 204
    assert not Membership.objects.for_org(acme).filter(user=bob).exists()


def test_invitations_api(acme, carol):
    client = APIClient()
    client.force_login(carol)
    response = client.post("/api/v1/invitations", {"email": "dave@acme.test", "role": "agent"}, format="json")
    assert response.status_code == 201 and response.json()["state"] == "pending"
    over = client.post("/api/v1/invitations", {"email": "eve@acme.test", "role": "owner"}, format="json")
    assert over.status_code == 403 and over.json()["error"]["code"] == "role_above_inviter"
    invitation_id = response.json()["id"]
    assert [i["id"] for i in client.get("/api/v1/invitations").json()["results"]] == [invitation_id]
    assert client.delete(f"/api/v1/invitations/{invitation_id}").status_code == 204
    assert client.get("/api/v1/invitations").json()["results"] == []


def test_person_only_actions_refuse_organization_credentials(acme, alice, bob):
    _key, secret = integration_services.api_key_create(
        org=org_context_for_user(alice, "acme"), name="k", scopes=["members:read", "members:write"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post("/api/v1/invitations", {"email": "x@acme.test", "role": "member"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "person_required"
    assert client.delete(f"/api/v1/members/{bob.public_id}").json()["error"]["code"] == "person_required"
    assert Membership.objects.for_org(acme).filter(user=bob).exists()
