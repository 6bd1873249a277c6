"""OAuth2 authorization code + PKCE: an app acts for a person, inside its organization, after consent."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
from rest_framework.test import APIClient

from integrations.credentials import services
from integrations.models import Application
from orgs.tenancy import org_context_for_user

pytestmark = pytest.mark.django_db

REDIRECT = "https://crm.example/callback"


@pytest.fixture
def app(acme, alice):
    application, _secret = services.oauth_application_create(
        org=org_context_for_user(alice, "acme"),
        name="Acme CRM",
        grant_type=Application.GRANT_AUTHORIZATION_CODE,
        client_type=Application.CLIENT_PUBLIC,
        scopes=["members:read", "api_keys:read"],
        redirect_uris=[REDIRECT],
    )
    return application


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(app, challenge, scope="members:read api_keys:read"):
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st4te",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def test_person_consents_and_the_app_acts_for_them(client, app, bob):
    verifier, challenge = pkce_pair()
    client.force_login(bob)
    params = authorize_params(app, challenge)
    consent = client.get("/oauth/authorize/", params)
    assert consent.status_code == 200
    page = consent.content.decode()
    assert "Allow Acme CRM to act for you?" in page and "Acme Inc" in page and "List members and invitations" in page

    approved = client.post("/oauth/authorize/", {**params, "allow": "Authorize"})
    assert approved.status_code == 302
    location = urlparse(approved["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "crm.example" and query["state"] == ["st4te"]

    token = APIClient().post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    assert api.get("/api/v1/me").json()["user"]["email"] == "bob@acme.test"
    assert api.get("/api/v1/members").status_code == 200
    # The token carries api_keys:read, but bob's role (agent) does not grant it: the smaller set wins.
    assert api.get("/api/v1/api-keys").status_code == 403


def test_wrong_verifier_gets_no_token(client, app, bob):
    _verifier, challenge = pkce_pair()
    client.force_login(bob)
    params = authorize_params(app, challenge)
    code = parse_qs(urlparse(client.post("/oauth/authorize/", {**params, "allow": "Authorize"})["Location"]).query)
    response = APIClient().post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": app.client_id,
            "code_verifier": secrets.token_urlsafe(48),
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_pkce_is_required(client, app, bob):
    client.force_login(bob)
    params = authorize_params(app, "x")
    del params["code_challenge"], params["code_challenge_method"]
    response = client.get("/oauth/authorize/", params)
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]


def test_member_of_another_organization_cannot_authorize(client, app, gina):
    _verifier, challenge = pkce_pair()
    client.force_login(gina)
    response = client.get("/oauth/authorize/", authorize_params(app, challenge))
    assert response.status_code == 403
    assert "not a member" in response.content.decode()


def test_denying_consent_sends_no_code(client, app, bob):
    _verifier, challenge = pkce_pair()
    client.force_login(bob)
    response = client.post("/oauth/authorize/", authorize_params(app, challenge))
    assert response.status_code == 302 and "error=access_denied" in response["Location"]
    assert "code=" not in response["Location"]
