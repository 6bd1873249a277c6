"""Whether a principal may act now (orgs.access), from the attacker's side: the requests that got through an
outside probe, and the legitimate paths beside them.

- "Require MFA": an Authorization header next to the cookie, the WebSocket, tokens issued before the requirement.
- "Require SSO": a member's password + code sign-in, and cookies and tokens issued before the requirement.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.models import AuditEntry
from integrations.sso.services import oidc_configure
from orgs import services
from orgs.access import SSO_SESSION_KEY
from orgs.models import Device, Role
from orgs.tests.factories import PASSWORD
from orgs.tests.test_mfa_web import current_code, password_step
from sessions.models import SupportSession

pytestmark = pytest.mark.django_db

DEVICE = {"name": "Pixel", "platform": "android"}


def native_sign_in(email: str, **extra) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token", {"email": email, "password": PASSWORD, "device": DEVICE, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]


def require_mfa(organization) -> None:
    services.organization_set_require_mfa(organization=organization, require_mfa=True)


def require_sso(organization) -> None:
    from django.test import override_settings

    # The issuer is never contacted by these tests (nothing listens there): only the requirement matters here.
    with override_settings(CONNECT_OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        _configure(organization)


def _configure(organization) -> None:
    oidc_configure(
        organization=organization,
        issuer="http://127.0.0.1:9",
        client_id="connect",
        client_secret="s3cret",
        email_domains=["acme-corp.test"],
        require_sso=True,
    )


# --- Require MFA -------------------------------------------------------------------------------------------


@pytest.fixture
def acme_requires_mfa(acme, alice, bob):
    require_mfa(acme)
    return acme


@pytest.mark.parametrize("header", ["x", "Basic Ym9iOng=", "Bearer"])
def test_an_authorization_header_does_not_carry_a_cookie_past_the_mfa_requirement(client, acme_requires_mfa, header):
    client.force_login(_bob(acme_requires_mfa))
    assert error_code(client.get("/api/v1/sessions")) == "mfa_enrollment_required"
    listed = client.get("/api/v1/sessions", HTTP_AUTHORIZATION=header)
    assert listed.status_code in (401, 403) and listed.status_code != 200
    created = client.post(
        "/api/v1/sessions", {"customer_name": "x"}, content_type="application/json", HTTP_AUTHORIZATION=header
    )
    assert created.status_code in (401, 403)
    assert not SupportSession.objects.for_org(acme_requires_mfa).exists()
    page = client.get(reverse("org_members", args=["acme"]), HTTP_AUTHORIZATION=header)
    assert page.status_code == 302 and page["Location"].startswith(reverse("account_login"))


def _bob(organization):
    return organization.membership_set.get(user__email="bob@acme.test").user


def test_the_enrolment_page_stays_reachable_and_enrolling_lets_the_member_in(client, acme_requires_mfa):
    bob = _bob(acme_requires_mfa)
    client.force_login(bob)
    assert client.get(reverse("org_dashboard", args=["acme"]))["Location"] == reverse("account_security")
    assert client.get(reverse("account_security")).status_code == 200
    device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    # A session that has given its code (what the sign-in's code step records) acts again.
    client.logout()
    password_step(client)
    client.post(reverse("mfa_verify"), {"code": current_code(device)})
    assert client.get("/api/v1/sessions").status_code == 200


def test_native_tokens_issued_before_the_requirement_end_with_it(acme, alice, bob):
    pair = native_sign_in("bob@acme.test")
    assert bearer(pair["access_token"]).get("/api/v1/sessions").status_code == 200
    require_mfa(acme)
    refused = bearer(pair["access_token"]).get("/api/v1/sessions")
    assert refused.status_code in (401, 403)
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    assert refreshed.status_code in (401, 403) and "access_token" not in refreshed.json()
    device = Device.objects.get(public_id=pair["device_id"])
    assert device.revoked_at is not None and device.revoked_reason == "mfa_required"


def test_a_token_the_requirement_would_refuse_is_refused_even_if_not_ended(acme, alice, bob):
    """Ending credentials at the switch is tidiness; the rule itself is checked on every request."""
    pair = native_sign_in("bob@acme.test")
    type(acme).objects.filter(pk=acme.pk).update(require_mfa=True)  # as if set behind the service's back
    refused = bearer(pair["access_token"]).get("/api/v1/me")
    assert refused.status_code == 403 and error_code(refused) == "mfa_enrollment_required"


def test_native_sign_in_with_a_code_satisfies_the_requirement(acme_requires_mfa):
    bob = _bob(acme_requires_mfa)
    refused = APIClient().post(
        "/api/v1/auth/token", {"email": bob.email, "password": PASSWORD, "device": DEVICE}, format="json"
    )
    assert refused.status_code == 403 and error_code(refused) == "mfa_enrollment_required"
    device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    pair = native_sign_in(bob.email, otp=current_code(device))
    assert bearer(pair["access_token"]).get("/api/v1/sessions").status_code == 200
    rotated = APIClient().post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    assert rotated.status_code == 200


def test_a_device_signed_in_before_enrolling_does_not_count_as_a_second_factor(acme, alice, bob):
    pair = native_sign_in("bob@acme.test")
    TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    type(acme).objects.filter(pk=acme.pk).update(require_mfa=True)
    refused = bearer(pair["access_token"]).get("/api/v1/me")
    assert refused.status_code == 403 and error_code(refused) == "mfa_required"


def test_other_members_and_organizations_are_untouched(acme, alice, bob, globex, gina):
    gina_pair = native_sign_in("gina@globex.test")
    require_mfa(acme)
    assert bearer(gina_pair["access_token"]).get("/api/v1/sessions").status_code == 200


# --- Require SSO -------------------------------------------------------------------------------------------


def test_a_members_password_and_code_do_not_get_past_required_sso(client, acme, alice, bob):
    require_sso(acme)
    device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    step = client.post(reverse("account_login"), {"login": "bob@acme.test", "password": PASSWORD, "break_glass": "1"})
    assert step.status_code == 302 and step["Location"] == reverse("mfa_verify")
    client.post(reverse("mfa_verify"), {"code": current_code(device)})
    page = client.get(reverse("org_dashboard", args=["acme"]))
    assert page.status_code == 403 and "passwords are turned off" in page.content.decode()
    # Signed out there and then: the session no longer names bob at all.
    assert SESSION_KEY not in client.session
    assert client.get("/api/v1/me").status_code == 401
    assert not AuditEntry.objects.for_org(acme).filter(action="sso.break_glass", actor_id=bob.public_id).exists()


def test_credentials_issued_before_sso_was_required_stop_working(client, acme, alice, bob):
    pair = native_sign_in("bob@acme.test")
    client.force_login(bob)
    assert client.get("/api/v1/me").status_code == 200
    require_sso(acme)
    assert client.get("/api/v1/me").status_code in (401, 403)
    assert bearer(pair["access_token"]).get("/api/v1/me").status_code in (401, 403)
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    assert refreshed.status_code in (401, 403)
    assert Device.objects.get(public_id=pair["device_id"]).revoked_reason == "sso_required"


def test_an_sso_session_and_the_owners_break_glass_still_work(client, acme, alice, bob):
    require_sso(acme)
    # What the identity provider's sign-in records in the session (integrations.sso.services.record_sign_in).
    client.force_login(bob)
    session = client.session
    session[SSO_SESSION_KEY] = [acme.pk]
    session.save()
    assert client.get("/api/v1/me").status_code == 200
    owner = APIClient()
    assert owner.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD}).status_code == 302
    assert owner.get("/api/v1/me").status_code == 200
    assert AuditEntry.objects.for_org(acme).filter(action="sso.break_glass", actor_id=alice.public_id).exists()
    assert bearer(native_sign_in(alice.email)["access_token"]).get("/api/v1/me").status_code == 200


def test_sso_of_one_organization_is_not_sso_of_another(client, acme, alice, bob, globex):
    from orgs.models import Membership

    Membership.objects.create(organization=globex, user=bob, role=Role.AGENT)
    require_sso(acme)
    client.force_login(bob)
    session = client.session
    session[SSO_SESSION_KEY] = [globex.pk]
    session.save()
    assert client.get("/api/v1/me").status_code in (401, 403)


def test_websocket_session_principal_uses_the_same_rule(acme, alice, bob):
    """The cookie rule, as the WebSocket authentication applies it (signaling.auth)."""
    from django.contrib.sessions.backends.db import SessionStore

    from signaling.auth import _session_principal

    store = SessionStore()
    store[SESSION_KEY] = str(bob.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = bob.get_session_auth_hash()
    assert _session_principal(bob, store) is not None
    require_mfa(acme)
    assert _session_principal(bob, store) is None


def test_staff_requiring_sso_in_the_admin_ends_member_credentials_and_refuses_internal_issuers(client, acme, bob):
    from django.test import override_settings

    from integrations.models import OrganizationSSO
    from orgs.models import User

    pair = native_sign_in("bob@acme.test")
    staff = User.objects.create_superuser(email="ops@connect.test", password=PASSWORD)
    client.force_login(staff)
    form = {
        "organization": acme.pk,
        "bizgaze_secret": "",
        "default_role": "agent",
        "oidc_issuer": "http://127.0.0.1:9",
        "oidc_client_id": "connect",
        "oidc_client_secret": "s3cret",
        "email_domains": '["acme-corp.test"]',
        "verified_domains": '["acme-corp.test"]',
        "require_sso": "on",
    }
    refused = client.post("/admin/integrations/organizationsso/add/", form)
    assert refused.status_code == 200 and "not a public address" in refused.content.decode()
    assert not OrganizationSSO.objects.for_org(acme).exists()
    with override_settings(CONNECT_OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        saved = client.post("/admin/integrations/organizationsso/add/", form)
    assert saved.status_code == 302
    config = OrganizationSSO.objects.get(organization=acme)
    assert config.require_sso and config.require_sso_since is not None
    assert Device.objects.get(public_id=pair["device_id"]).revoked_reason == "sso_required"
