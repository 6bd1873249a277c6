"""Device sign-in (RFC 8628): a client shows a code, a signed-in person approves it on /device/, the client's poll
gets a native token pair once. Every refusal in the one error shape, with the RFC's error name as its code."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from orgs import device_grant
from orgs.models import Device, DeviceAuthorization
from orgs.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PENDING = DeviceAuthorization.Status.PENDING
FORM = "application/x-www-form-urlencoded"


def rows():
    return DeviceAuthorization.objects.unscoped("test: every device authorization")


def start(**extra) -> dict:
    body = {"client_name": "Front desk TV", "platform": "other", **extra}
    response = APIClient().post("/api/v1/auth/device", body, format="json")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"].startswith("no-store")
    return response.json()


def poll(device_code: str, *, form: bool = False):
    body = {"grant_type": GRANT, "device_code": device_code}
    if form:  # what RFC 8628 clients send
        return APIClient().post("/api/v1/auth/token", urlencode(body), content_type=FORM)
    return APIClient().post("/api/v1/auth/token", body, format="json")


def error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"} and body["message"]
    return body["code"]


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def decide(client: Client, user_code: str, action: str):
    """Open the confirmation screen (for its CSRF cookie), then press the button."""
    page = client.get("/device/", {"user_code": user_code})
    token = page.context["csrf_token"] if page.context else client.cookies["csrftoken"].value
    return client.post("/device/", {"user_code": user_code, "action": action, "csrfmiddlewaretoken": str(token)})


def entries(action: str):
    return AuditEntry.objects.unscoped("test: audit entries of any organization").filter(action=action)


def test_start_answers_the_codes_and_stores_only_a_hash():
    body = start()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert body["device_code"].startswith("cdc_") and body["expires_in"] == 600 and body["interval"] == 5
    code = body["user_code"]
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set("BCDFGHJKLMNPQRSTVWXZ")
    assert body["verification_uri"].endswith("/device/")
    assert body["verification_uri_complete"] == f"{body['verification_uri']}?user_code={code}"
    row = rows().get()
    assert row.user_code == code.replace("-", "") and row.status == PENDING
    assert row.device_code_hash != body["device_code"] and not rows().filter(device_code_hash=body["device_code"])


def test_approve_then_poll_gets_tokens_that_work_once(bob, acme):
    body = start()
    assert error(poll(body["device_code"]), 400) == "authorization_pending"
    assert decide(browser(bob), body["user_code"], "approve").status_code == 200

    response = poll(body["device_code"], form=True)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"].startswith("no-store")
    pair = response.json()
    assert pair["access_token"].startswith("cat_") and pair["refresh_token"].startswith("crt_")
    device = Device.objects.get(public_id=pair["device_id"])
    assert (device.user, device.name, device.platform) == (bob, "Front desk TV", "other")
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert me.get("/api/v1/me").json()["user"]["email"] == "bob@acme.test"

    # The approval is spent: a second poll (a copy of the device code) gets nothing.
    assert error(poll(body["device_code"]), 400) == "invalid_grant"
    assert Device.objects.filter(user=bob).count() == 1
    assert rows().get().status == DeviceAuthorization.Status.CONSUMED

    approved = entries("device_authorization.approved").get()
    assert approved.organization == acme and approved.actor_id == bob.public_id
    assert approved.data == {"client_name": "Front desk TV", "platform": "other"}
    issued = entries("device_authorization.token_issued").get()
    assert issued.organization == acme and issued.target_id == device.public_id


def test_deny_answers_access_denied_and_issues_nothing(bob, acme):
    body = start()
    response = decide(browser(bob), body["user_code"], "deny")
    assert response.status_code == 200 and "was not signed in" in response.content.decode()
    assert error(poll(body["device_code"]), 400) == "access_denied"
    assert not Device.objects.exists()
    assert entries("device_authorization.denied").get().organization == acme


def test_an_expired_code_answers_expired_token_and_cannot_be_approved(bob):
    body = start()
    rows().update(expires_at=timezone.now() - timedelta(seconds=1))
    assert error(poll(body["device_code"]), 400) == "expired_token"
    page = browser(bob).get("/device/", {"user_code": body["user_code"]})
    assert page.status_code == 400 and "has expired" in page.content.decode()


def test_an_approval_not_collected_in_time_expires(bob):
    body = start()
    decide(browser(bob), body["user_code"], "approve")
    rows().update(expires_at=timezone.now() - timedelta(seconds=1))
    assert error(poll(body["device_code"]), 400) == "expired_token"
    assert not Device.objects.exists()


def test_polling_too_fast_answers_slow_down_and_the_interval_grows(bob):
    body = start()
    assert error(poll(body["device_code"]), 400) == "authorization_pending"
    response = poll(body["device_code"])
    assert error(response, 400) == "slow_down"
    assert response.json()["error"]["details"]["interval"] == 10
    assert rows().get().interval == 10
    assert error(poll(body["device_code"]), 400) == "slow_down"
    assert rows().get().interval == 15  # for good: RFC 8628 3.5
    # Waiting the interval out is answered normally again.
    rows().update(last_polled_at=timezone.now() - timedelta(seconds=16))
    assert error(poll(body["device_code"]), 400) == "authorization_pending"


def test_unknown_device_codes_are_invalid_grant():
    for code in ["cdc_nope", "nope", ""]:
        assert error(poll(code), 400) in {"invalid_grant", "validation_error"}
    assert error(poll("cdc_nope"), 400) == "invalid_grant"


def test_a_code_restricted_to_one_organization_is_refused_to_another_ones_member(acme, globex, bob, gina):
    body = start(organization="acme")
    client = browser(gina)
    page = client.get("/device/", {"user_code": body["user_code"]})
    assert page.status_code == 403 and "members of Acme Inc" in page.content.decode()
    response = decide(client, body["user_code"], "approve")
    assert response.status_code == 403
    row = rows().get()
    assert row.status == PENDING and row.user is None
    assert error(poll(body["device_code"]), 400) == "authorization_pending"
    assert not entries("device_authorization.approved").exists()

    # A member of Acme may.
    page = browser(bob).get("/device/", {"user_code": body["user_code"]})
    assert page.status_code == 200 and "Acme Inc" in page.content.decode()
    decide(browser(bob), body["user_code"], "approve")
    rows().update(last_polled_at=None)
    assert poll(body["device_code"]).status_code == 200
    assert entries("device_authorization.approved").get().organization == acme


def test_an_unknown_organization_is_refused_at_the_start():
    response = APIClient().post(
        "/api/v1/auth/device", {"client_name": "TV", "platform": "other", "organization": "nobody"}, format="json"
    )
    assert error(response, 400) == "invalid_organization"
    assert not rows().exists()


def test_without_a_restriction_the_sign_in_is_recorded_in_each_of_the_persons_organizations(acme, globex, bob):
    MembershipFactory(organization=globex, user=bob)
    body = start()
    decide(browser(bob), body["user_code"], "approve")
    assert {e.organization for e in entries("device_authorization.approved")} == {acme, globex}


def test_wrong_codes_are_rate_limited_per_person(bob):
    body = start()
    client = browser(bob)
    for _ in range(device_grant.WRONG_CODES_PER_MINUTE):
        assert client.get("/device/", {"user_code": "ZZZZ-ZZZZ"}).status_code == 400
    refused = client.get("/device/", {"user_code": body["user_code"]})  # even the right one, now
    assert refused.status_code == 429 and refused.has_header("Retry-After")
    with pytest.raises(device_grant.ApplicationError) as raised:
        device_grant.device_authorization_approve(user_code=body["user_code"], user=bob, ip="203.0.113.7")
    assert raised.value.code == "rate_limited" and raised.value.status_code == 429
    assert rows().get().status == PENDING


def test_wrong_codes_are_rate_limited_per_address(bob, carol):
    for _ in range(device_grant.WRONG_CODES_PER_MINUTE):
        with pytest.raises(device_grant.UserCodeError):
            device_grant.device_authorization_deny(user_code="ZZZZZZZZ", user=bob, ip="203.0.113.9")
    with pytest.raises(device_grant.ApplicationError) as raised:  # another person, the same address
        device_grant.device_authorization_deny(user_code="ZZZZZZZZ", user=carol, ip="203.0.113.9")
    assert raised.value.code == "rate_limited"
    # Right codes do not count.
    body = start()
    device_grant.device_authorization_approve(user_code=body["user_code"], user=carol, ip="203.0.113.10")


def test_starting_is_rate_limited_per_address():
    for _ in range(device_grant.REQUESTS_PER_MINUTE):
        start()
    response = APIClient().post("/api/v1/auth/device", {"client_name": "TV", "platform": "other"}, format="json")
    assert error(response, 429) == "rate_limited" and response.has_header("Retry-After")


def test_the_page_shows_what_asks_to_sign_in(bob):
    body = start(organization="acme")
    page = browser(bob).get("/device/", {"user_code": body["user_code"].lower()})  # typed in lower case
    html = page.content.decode()
    assert page.status_code == 200
    for shown in ["Front desk TV", "Other", "Acme Inc", body["user_code"], "Approve", "Deny"]:
        assert shown in html, shown
    form = browser(bob).get("/device/")
    assert form.status_code == 200 and 'name="user_code"' in form.content.decode()


def test_the_page_refuses_a_post_without_csrf(bob):
    body = start()
    response = browser(bob).post("/device/", {"user_code": body["user_code"], "action": "approve"})
    assert response.status_code == 403
    assert rows().get().status == PENDING


def test_a_used_code_says_so(bob):
    body = start()
    decide(browser(bob), body["user_code"], "approve")
    page = browser(bob).get("/device/", {"user_code": body["user_code"]})
    assert page.status_code == 400 and "already used" in page.content.decode()
    wrong = browser(bob).get("/device/", {"user_code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in():
    response = Client().get("/device/", {"user_code": "BCDF-GHJK"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/") and "user_code" in response["Location"]


def test_the_password_grant_is_unchanged(bob):
    from orgs.tests.factories import PASSWORD

    device = {"name": "Phone", "platform": "ios"}
    ok = APIClient().post(
        "/api/v1/auth/token", {"email": "bob@acme.test", "password": PASSWORD, "device": device}, format="json"
    )
    assert ok.status_code == 200
    form = APIClient().post(
        "/api/v1/auth/token", urlencode({"email": "bob@acme.test", "password": PASSWORD}), content_type=FORM
    )
    assert error(form, 415) == "unsupported_media_type"


def test_two_polls_racing_for_one_approval_get_one_pair(bob):
    """Both read the approved row before either claims it: the conditional update lets one through."""
    body = start()
    decide(browser(bob), body["user_code"], "approve")
    seen_by_both = rows().get()
    device_grant._issue(seen_by_both, ip=None, now=timezone.now())
    with pytest.raises(device_grant.DeviceGrantError) as second:
        device_grant._issue(seen_by_both, ip=None, now=timezone.now())
    assert second.value.code == "invalid_grant"
    assert Device.objects.filter(user=bob).count() == 1


def test_the_device_proves_a_second_factor_only_when_the_approving_session_gave_one(acme, bob, carol):
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    totp = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    with_code = browser(bob)
    session = with_code.session
    session[DEVICE_ID_SESSION_KEY] = totp.persistent_id
    session.save()
    first, second = start(), start()
    decide(with_code, first["user_code"], "approve")
    decide(browser(carol), second["user_code"], "approve")
    devices = [Device.objects.get(public_id=poll(b["device_code"]).json()["device_id"]) for b in (first, second)]
    assert [(d.user, d.second_factor) for d in devices] == [(bob, True), (carol, False)]


def test_a_member_whose_organization_requires_a_second_factor_cannot_approve_without_one(acme, carol):
    acme.require_mfa = True
    acme.save(update_fields=["require_mfa"])
    body = start()
    # Without an authenticator the session reaches only the enrolment page; the service refuses on its own too.
    with pytest.raises(device_grant.ApplicationError) as refused:
        device_grant.device_authorization_approve(user_code=body["user_code"], user=carol, ip="203.0.113.5")
    assert refused.value.code == "mfa_enrollment_required"
    assert rows().get().status == PENDING


def test_expired_device_sign_ins_are_purged_a_day_later(db):
    from datetime import timedelta

    from django.utils import timezone

    from orgs import device_grant
    from orgs.models import DeviceAuthorization
    from orgs.tasks import purge_device_authorizations

    old, _code, _user_code = device_grant.device_authorization_request(client_name="TV", platform="linux", ip=None)
    fresh, _code, _user_code = device_grant.device_authorization_request(client_name="TV 2", platform="linux", ip=None)
    DeviceAuthorization.objects.unscoped("test").filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    assert purge_device_authorizations() == 1
    assert list(DeviceAuthorization.objects.unscoped("test").values_list("pk", flat=True)) == [fresh.pk]
