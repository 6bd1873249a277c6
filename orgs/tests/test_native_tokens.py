"""Native-app tokens: sign-in, rotation and reuse detection, expiry, revocation, device sign-out, lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from orgs.models import Device, DeviceToken
from orgs.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

DEVICE = {"name": "Alice's iPhone", "platform": "ios", "push_token": "apns-123"}


def sign_in(email="bob@acme.test", password=PASSWORD, **extra):
    return APIClient().post(
        "/api/v1/auth/token", {"email": email, "password": password, "device": DEVICE, **extra}, format="json"
    )


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def refresh(token: str):
    return APIClient().post("/api/v1/auth/refresh", {"refresh_token": token}, format="json")


def test_sign_in_answers_a_token_pair(bob):
    response = sign_in()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    assert body["access_token"].startswith("cat_") and body["refresh_token"].startswith("crt_")
    device = Device.objects.get(public_id=body["device_id"])
    assert device.user == bob and device.push_token == "apns-123"
    # Stored hashed: neither token appears in the database.
    assert not DeviceToken.objects.filter(token_hash__in=[body["access_token"], body["refresh_token"]]).exists()

    me = bearer(body["access_token"]).get("/api/v1/me").json()
    assert me["user"]["email"] == "bob@acme.test"
    assert me["organizations"] == [
        {"id": me["organizations"][0]["id"], "slug": "acme", "name": "Acme Inc", "role": "agent"}
    ]


def test_wrong_password_is_401_in_the_error_shape(bob):
    response = sign_in(password="nope-nope-nope")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert not Device.objects.exists()


def test_refresh_rotates_and_the_old_refresh_token_stops_working(bob):
    first = sign_in().json()
    second = refresh(first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["device_id"] == first["device_id"] and second["access_token"] != first["access_token"]
    # The access token of the old pair ended with the rotation; the new one works.
    assert bearer(first["access_token"]).get("/api/v1/me").status_code == 401
    assert bearer(second["access_token"]).get("/api/v1/me").status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(bob):
    first = sign_in().json()
    second = refresh(first["refresh_token"]).json()
    # An attacker replays the stolen, already-rotated refresh token.
    replay = refresh(first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    device = Device.objects.get(public_id=first["device_id"])
    assert device.revoked_at is not None and device.revoked_reason == "refresh_token_reused"
    # The legitimate app is signed out too: its current tokens are part of the revoked family.
    assert bearer(second["access_token"]).get("/api/v1/me").status_code == 401
    assert refresh(second["refresh_token"]).status_code == 401


def test_expired_access_and_refresh_tokens(bob):
    pair = sign_in().json()
    past = timezone.now() - timedelta(seconds=1)
    DeviceToken.objects.filter(kind="access").update(expires_at=past)
    response = bearer(pair["access_token"]).get("/api/v1/me")
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]
    DeviceToken.objects.filter(kind="refresh").update(expires_at=past)
    assert refresh(pair["refresh_token"]).json()["error"]["code"] == "invalid_grant"


def test_revoke_endpoint(bob):
    pair = sign_in().json()
    client = APIClient()
    assert client.post("/api/v1/auth/revoke", {"token": pair["access_token"]}, format="json").status_code == 204
    assert bearer(pair["access_token"]).get("/api/v1/me").status_code == 401
    # Revoking the refresh token signs the device out.
    assert client.post("/api/v1/auth/revoke", {"token": pair["refresh_token"]}, format="json").status_code == 204
    assert refresh(pair["refresh_token"]).status_code == 401
    # Unknown tokens are accepted silently.
    assert client.post("/api/v1/auth/revoke", {"token": "crt_unknown"}, format="json").status_code == 204


def test_devices_list_and_sign_out(bob, gina):
    phone = sign_in().json()
    laptop = sign_in().json()
    client = bearer(phone["access_token"])
    listed = client.get("/api/v1/devices").json()
    assert {d["id"] for d in listed} == {phone["device_id"], laptop["device_id"]}
    assert [d["current"] for d in listed if d["id"] == phone["device_id"]] == [True]

    assert client.delete(f"/api/v1/devices/{laptop['device_id']}").status_code == 204
    assert bearer(laptop["access_token"]).get("/api/v1/me").status_code == 401
    assert refresh(laptop["refresh_token"]).status_code == 401
    assert client.get("/api/v1/me").status_code == 200

    # Someone else's device is not found.
    ginas = sign_in("gina@globex.test").json()
    assert client.delete(f"/api/v1/devices/{ginas['device_id']}").status_code == 404
    assert bearer(ginas["access_token"]).get("/api/v1/me").status_code == 200


def test_device_endpoints_are_for_people_not_api_keys(acme, alice):
    from integrations.credentials.services import api_key_create
    from orgs.tenancy import org_context_for_user

    _key, secret = api_key_create(org=org_context_for_user(alice, "acme"), name="k", scopes=["members:read"])
    response = bearer(secret).get("/api/v1/devices")
    assert response.status_code == 403 and response.json()["error"]["code"] == "person_required"


def test_mfa_user_needs_a_valid_otp(bob, settings):
    # django-otp's back-off after a wrong code is 1 s at the default factor; a busy machine's password hashing can
    # outlast that, so the wait is made long enough to observe.
    settings.OTP_TOTP_THROTTLE_FACTOR = 600
    device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    response = sign_in()
    assert response.status_code == 401 and response.json()["error"]["code"] == "mfa_required"
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    wrong = sign_in(otp=f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_otp"
    # django-otp then makes the device wait a moment before the next try, and the answer says so.
    backing_off = sign_in(otp=code)
    assert backing_off.status_code == 429 and backing_off.json()["error"]["code"] == "otp_throttled"
    device.refresh_from_db()
    device.throttle_reset()
    assert sign_in(otp=code).status_code == 200
    assert not Device.objects.filter(revoked_at__isnull=False).exists()


def test_org_requiring_mfa_refuses_members_without_a_device(acme, bob):
    acme.require_mfa = True
    acme.save()
    response = sign_in()
    assert response.status_code == 403 and response.json()["error"]["code"] == "mfa_enrollment_required"


def test_repeated_failures_lock_the_account(bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(password="wrong-password-1").status_code == 401
    assert sign_in(password="wrong-password-1").status_code == 429  # the limit-th failure locks
    locked = sign_in()  # even the right password is refused while locked
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert "Try again in 15 minutes" in locked.json()["error"]["message"]
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.filter(username="bob@acme.test").exists()


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ("{not json", "application/json", "malformed_request"),
        ('["a list"]', "application/json", "validation_error"),
        ('{"email": 5, "password": [], "device": "x"}', "application/json", "validation_error"),
        (
            '{"email": "bob@acme.test", "password": "x", "device": {"name": "a", "platform": "ios"}, "admin": true}',
            "application/json",
            "validation_error",
        ),
        (
            '{"email": "bob@acme.test", "password": "x", "device": {"name": "a", "platform": "toaster"}}',
            "application/json",
            "validation_error",
        ),
        ("email=bob@acme.test", "application/x-www-form-urlencoded", "unsupported_media_type"),
    ],
)
def test_bad_input_gets_a_4xx_in_the_error_shape(bob, body, content_type, code):
    response = APIClient().generic("POST", "/api/v1/auth/token", body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code
    assert not Device.objects.exists()


def test_oversized_body_is_refused(bob):
    huge = '{"email": "bob@acme.test", "password": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = APIClient().generic("POST", "/api/v1/auth/token", huge, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
