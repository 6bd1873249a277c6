"""Clear answers: a refused credential is told why in the one error shape (``token_expired``, ``api_key_expired``,
``invalid_api_key``...), an organization's credential on a person-only endpoint is told it needs a person's
(403 ``person_required``), and every response that carries a secret is kept out of caches (``no-store``)."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import get_access_token_model
from rest_framework.test import APIClient

from integrations.credentials import services as integration_services
from integrations.models import APIKey, Application
from integrations.webhooks import services as webhooks
from orgs import devices
from orgs.models import DeviceToken
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import PASSWORD
from sessions import services as session_services

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


@pytest.fixture
def owner(acme, alice):
    return org_context_for_user(alice, "acme")


def client_credentials_token(owner, scopes: list[str]) -> str:
    app, secret = integration_services.oauth_application_create(
        org=owner, name="CRM", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=scopes
    )
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    response = APIClient().post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": " ".join(scopes)},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


# --- Refused credentials keep their reason ------------------------------------------------------------------


def test_an_expired_native_token_answers_token_expired(alice):
    pair = devices.device_sign_in(user=alice, name="Phone", platform="ios")
    assert bearer(pair.access_token).get("/api/v1/me").status_code == 200
    DeviceToken.objects.filter(kind=DeviceToken.Kind.ACCESS).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer(pair.access_token).get("/api/v1/me")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "token_expired" and "expired" in error["message"]
    # The app refreshes and goes on.
    renewed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": pair.refresh_token}, format="json")
    assert bearer(renewed.json()["access_token"]).get("/api/v1/me").status_code == 200


def test_an_unknown_native_token_answers_invalid_token(acme):
    response = bearer("cat_not-a-token").get("/api/v1/me")
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_token"


def test_a_disabled_account_answers_account_disabled(alice):
    pair = devices.device_sign_in(user=alice, name="Phone", platform="ios")
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = bearer(pair.access_token).get("/api/v1/me")
    assert response.status_code == 401 and error_of(response)["code"] == "account_disabled"


def test_an_expired_oauth_token_answers_token_expired(owner):
    token = client_credentials_token(owner, ["members:read"])
    assert bearer(token).get("/api/v1/members").status_code == 200
    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = bearer(token).get("/api/v1/members")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "token_expired" and "expired" in error["message"]


def test_an_expired_api_key_says_it_expired(owner):
    key, secret = integration_services.api_key_create(org=owner, name="Sync", scopes=["members:read"])
    assert bearer(secret).get("/api/v1/members").status_code == 200
    APIKey.objects.for_org(owner.organization).filter(pk=key.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    response = bearer(secret).get("/api/v1/members")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "api_key_expired"
    assert "expired" in error["message"] and "new one" in error["message"]


def test_a_revoked_or_unknown_api_key_answers_invalid_api_key(owner):
    key, secret = integration_services.api_key_create(org=owner, name="Sync", scopes=["members:read"])
    integration_services.api_key_revoke(key=key)
    for token in (secret, "cnk_not-a-key"):
        response = bearer(token).get("/api/v1/members")
        assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"


def test_a_malformed_header_still_answers_authentication_failed(acme):
    response = APIClient().get("/api/v1/members", HTTP_AUTHORIZATION="Bearer a b")
    assert response.status_code == 401 and error_of(response)["code"] == "authentication_failed"


# --- Person-only endpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/devices", "/api/v1/devices/dev_anything"])
def test_an_api_key_on_a_person_endpoint_is_told_it_needs_a_person(owner, path):
    _key, secret = integration_services.api_key_create(org=owner, name="Sync", scopes=["members:read"])
    response = bearer(secret).get(path)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "person_required"
    assert "person's credential" in error["message"] and "API key" in error["message"]


def test_client_credentials_on_a_person_endpoint_are_told_too(owner):
    response = bearer(client_credentials_token(owner, ["members:read"])).get("/api/v1/me")
    assert response.status_code == 403 and error_of(response)["code"] == "person_required"


def test_a_person_still_reaches_their_endpoints_and_no_credential_is_still_401(alice):
    pair = devices.device_sign_in(user=alice, name="Phone", platform="ios")
    assert bearer(pair.access_token).get("/api/v1/me").json()["user"]["email"] == "alice@acme.test"
    assert bearer(pair.access_token).get("/api/v1/devices").status_code == 200
    response = APIClient().get("/api/v1/me")
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"


def test_the_ws_ticket_is_not_person_only(owner):
    _key, secret = integration_services.api_key_create(org=owner, name="Sync", scopes=["sessions:read"])
    assert bearer(secret).post("/api/v1/ws-ticket").status_code == 200


# --- Secrets are not cached -----------------------------------------------------------------------------------


def assert_not_stored(response) -> None:
    assert response["Cache-Control"] == "no-store", response.get("Cache-Control")
    assert response["Pragma"] == "no-cache"


def test_native_token_pairs_are_not_stored(alice):
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": "alice@acme.test", "password": PASSWORD, "device": {"name": "Phone", "platform": "ios"}},
        format="json",
    )
    assert response.status_code == 200
    assert_not_stored(response)
    renewed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": response.json()["refresh_token"]}, "json")
    assert renewed.status_code == 200
    assert_not_stored(renewed)


def test_created_credentials_and_rotated_secrets_are_not_stored(owner, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    api = bearer(devices.device_sign_in(user=owner.user, name="Phone", platform="ios").access_token)

    key = api.post("/api/v1/api-keys", {"name": "Sync", "scopes": ["members:read"]}, format="json")
    assert key.status_code == 201 and key.json()["key"].startswith("cnk_")
    assert_not_stored(key)

    app = api.post(
        "/api/v1/oauth-apps",
        {"name": "CRM", "grant_type": "client-credentials", "scopes": ["members:read"]},
        format="json",
    )
    assert app.status_code == 201 and app.json()["client_secret"]
    assert_not_stored(app)

    hook = api.post("/api/v1/webhooks", {"url": "http://93.184.215.14/hook"}, format="json")
    assert hook.status_code == 201 and hook.json()["secret"].startswith("whsec_")
    assert_not_stored(hook)
    rotated = api.post(f"/api/v1/webhooks/{hook.json()['id']}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != hook.json()["secret"]
    assert_not_stored(rotated)

    ticket = api.post("/api/v1/ws-ticket")
    assert ticket.status_code == 200 and ticket.json()["ticket"]
    assert_not_stored(ticket)


def test_the_oauth_token_endpoint_is_not_stored(owner):
    app, secret = integration_services.oauth_application_create(
        org=owner, name="CRM", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=["members:read"]
    )
    response = APIClient().post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "members:read"},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode(),
    )
    assert response.status_code == 200
    assert_not_stored(response)


def test_the_customer_credential_from_join_is_not_stored(owner):
    session = session_services.session_start(org=owner, actor=session_services.Actor(kind="agent", user=owner.user))
    response = APIClient().post("/api/v1/join", {"code": session.code}, format="json")
    assert response.status_code == 200 and response.json()["customer_token"]
    assert_not_stored(response)


def test_pages_showing_a_new_key_or_webhook_secret_are_not_stored(client, acme, alice, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    client.force_login(alice)
    created = client.post(reverse("org_api_keys", args=["acme"]), {"name": "Zendesk", "scopes": ["members:read"]})
    assert created.status_code == 201 and 'id="new-key">cnk_' in created.content.decode()
    assert_not_stored(created)

    url = reverse("org_webhooks", args=["acme"])
    hook = client.post(url, {"url": "http://93.184.215.14/connect"})
    assert hook.status_code == 201 and "whsec_" in hook.content.decode()
    assert_not_stored(hook)
    endpoint = webhooks.WebhookEndpoint.objects.get(organization=acme)
    rotated = client.post(url, {"action": "rotate", "endpoint": endpoint.public_id})
    assert rotated.status_code == 200 and "whsec_" in rotated.content.decode()
    assert_not_stored(rotated)


def test_mfa_enrolment_and_recovery_code_pages_are_not_stored(client, acme, bob):
    client.force_login(bob)
    started = client.post(reverse("account_security"), {"action": "start"})
    assert "data:image/svg+xml;base64," in started.content.decode()  # the enrolment secret, as a QR code
    assert_not_stored(started)
    pending = client.get(reverse("account_security"))
    assert re.search(r'<code class="key">[A-Z2-7 ]+</code>', pending.content.decode())  # and typed
    assert_not_stored(pending)

    device = TOTPDevice.objects.get(user=bob, confirmed=False)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    confirmed = client.post(reverse("account_security"), {"action": "confirm", "code": code})
    assert confirmed.status_code == 200 and "Recovery codes" in confirmed.content.decode()
    assert_not_stored(confirmed)
    regenerated = client.post(reverse("account_security"), {"action": "regenerate"})
    assert regenerated.status_code == 200
    assert_not_stored(regenerated)


def test_ordinary_reads_stay_cacheable_as_before(owner):
    _key, secret = integration_services.api_key_create(org=owner, name="Sync", scopes=["members:read"])
    response = bearer(secret).get("/api/v1/members")
    assert response.status_code == 200 and "no-store" not in response.get("Cache-Control", "")
