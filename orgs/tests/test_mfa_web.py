"""Web sign-in with two-factor authentication, recovery codes, enrolment, organizations that require MFA,
and lockout of the sign-in form."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from orgs import mfa
from orgs.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def reset_backoff(user) -> None:
    """django-otp makes every device of the user wait after a wrong code; tests skip the wait."""
    from django_otp import devices_for_user

    for device in devices_for_user(user, confirmed=None):
        device.throttle_reset()


def password_step(client, email="bob@acme.test", password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


@pytest.fixture
def bob_with_mfa(bob):
    device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    codes = mfa.recovery_codes_regenerate(bob)
    return device, codes


def is_signed_in(client) -> bool:
    return client.get(reverse("org_dashboard", args=["acme"])).status_code == 200


def test_password_alone_does_not_sign_in_a_user_with_a_device(client, acme, bob_with_mfa):
    response = password_step(client)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_verify")
    assert not is_signed_in(client)
    assert client.get("/api/v1/me").status_code == 401


def test_code_completes_the_sign_in(client, acme, bob_with_mfa):
    device, _codes = bob_with_mfa
    password_step(client)
    wrong = client.post(reverse("mfa_verify"), {"code": f"{(int(current_code(device)) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 401 and "not correct" in wrong.content.decode()
    assert not is_signed_in(client)
    reset_backoff(device.user)
    response = client.post(reverse("mfa_verify"), {"code": current_code(device)})
    assert response.status_code == 302
    assert is_signed_in(client)


def test_recovery_code_works_once(client, acme, bob_with_mfa):
    _device, codes = bob_with_mfa
    password_step(client)
    assert client.post(reverse("mfa_verify"), {"code": codes[0]}).status_code == 302
    assert is_signed_in(client)
    client.logout()
    password_step(client)
    reused = client.post(reverse("mfa_verify"), {"code": codes[0].upper()})  # case and spaces do not matter
    assert reused.status_code == 401
    assert not is_signed_in(client)
    assert mfa.recovery_codes_left(_device.user) == len(codes) - 1


def test_code_page_without_a_pending_sign_in_goes_back_to_login(client):
    response = client.get(reverse("mfa_verify"))
    assert response.status_code == 302 and response["Location"] == reverse("account_login")


def test_admin_login_form_cannot_skip_the_code(client, acme, bob_with_mfa):
    bob = bob_with_mfa[0].user
    bob.is_staff = bob.is_superuser = True
    bob.save()
    # Django's own login (the path the admin form uses) sets the session, but the session is not verified.
    client.force_login(bob)
    assert client.get("/admin/orgs/organization/").status_code == 302
    assert not is_signed_in(client)


def test_wrong_codes_are_throttled(client, acme, bob_with_mfa):
    device, _ = bob_with_mfa
    password_step(client)
    for _ in range(mfa.MAX_WRONG_CODES):
        reset_backoff(device.user)
        client.post(reverse("mfa_verify"), {"code": "000000" if current_code(device) != "000000" else "111111"})
    reset_backoff(device.user)
    response = client.post(reverse("mfa_verify"), {"code": current_code(device)})
    assert response.status_code == 429 and "Too many wrong codes" in response.content.decode()
    assert not is_signed_in(client)


def test_enrolment_shows_qr_and_key_then_recovery_codes(client, acme, bob):
    client.force_login(bob)
    page = client.post(reverse("account_security"), {"action": "start"}).content.decode()
    assert "data:image/svg+xml;base64," in page
    key = re.search(r'<code class="key">([A-Z2-7 ]+)</code>', page).group(1)
    device = TOTPDevice.objects.get(user=bob, confirmed=False)
    assert key.replace(" ", "") in __import__("base64").b32encode(device.bin_key).decode()
    wrong = client.post(reverse("account_security"), {"action": "confirm", "code": "12"})
    assert wrong.status_code == 401
    response = client.post(reverse("account_security"), {"action": "confirm", "code": current_code(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", response.content.decode())
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    device.refresh_from_db()
    assert device.confirmed
    # The session that proved the device stays signed in; a new sign-in needs a code.
    assert is_signed_in(client)
    client.logout()
    password_step(client)
    assert not is_signed_in(client)


def test_org_requiring_mfa_sends_members_to_enrolment_first(client, acme, bob):
    acme.require_mfa = True
    acme.save()
    client.force_login(bob)
    response = client.get(reverse("org_dashboard", args=["acme"]))
    assert response.status_code == 302 and response["Location"] == reverse("account_security")
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and api.json()["error"]["code"] == "mfa_enrollment_required"
    page = client.get(reverse("account_security")).content.decode()
    assert "requires two-factor authentication" in page


def test_mfa_cannot_be_turned_off_where_the_org_requires_it(client, acme, bob_with_mfa):
    device, _ = bob_with_mfa
    password_step(client)
    client.post(reverse("mfa_verify"), {"code": current_code(device)})
    acme.require_mfa = True
    acme.save()
    reset_backoff(device.user)
    response = client.post(reverse("account_security"), {"action": "disable", "code": "x"})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=device.user).exists()


def test_sign_in_form_locks_after_repeated_failures(client, acme, bob, settings, admin_client):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = password_step(client, password="wrong-password-1")
        assert response.status_code == 200 and "not correct" in response.content.decode()
    locked = password_step(client, password="wrong-password-1")
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.content.decode()
    assert password_step(client).status_code == 429  # the right password too, while locked
    assert not is_signed_in(client)
    listing = admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "bob@acme.test" in listing


def test_security_headers(client, acme, bob):
    login = password_step(client)
    session_cookie = login.cookies["sessionid"]
    assert session_cookie["httponly"] and session_cookie["samesite"] == "Lax"
    response = client.get(reverse("org_dashboard", args=["acme"]))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
