"""APNs through the real aioapns client against a fake HTTP/2 server: what Apple receives, token refusals, and
retries that end in exactly one delivery."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from orgs.models import Device
from orgs.tenancy import org_context_for_user
from push import services
from push.models import PushMessage, PushRegistration
from sessions import services as session_services

from .conftest import native_app

pytestmark = pytest.mark.django_db

TOKEN = "a1" * 32


@pytest.fixture
def bobs_iphone(bob):
    app = native_app(bob, platform=Device.Platform.IOS)
    response = app.client.post(
        "/api/v1/push/registrations",
        {"provider": "apns", "token": TOKEN, "app_version": "2.3.0", "locale": "en-GB"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return PushRegistration.objects.get(public_id=response.json()["id"])


def customer_joins_bobs_session(bob, run):
    org = org_context_for_user(bob, "acme")
    with run(execute=True):
        session = session_services.session_start(org=org, actor=session_services.Actor(kind="agent", user=bob))
    with run(execute=True):
        session, _ = session_services.session_join(
            code=session.code, actor=session_services.Actor(kind="customer"), name="Carla Customer"
        )
    return session


def test_a_waiting_customer_reaches_apple_with_the_headers_and_a_signed_token(
    apns, bob, bobs_iphone, django_capture_on_commit_callbacks
):
    session = customer_joins_bobs_session(bob, django_capture_on_commit_callbacks)

    [request] = apns.requests
    headers = request["headers"]
    assert request["path"] == f"/3/device/{TOKEN}"
    assert headers["apns-topic"] == "com.bizgaze.connect"
    assert headers["apns-priority"] == "10"
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-collapse-id"] == f"session:{session.public_id}"
    expires = int(headers["apns-expiration"]) - timezone.now().timestamp()
    assert 9 * 60 < expires <= 10 * 60
    scheme, token = headers["authorization"].split(" ")
    assert scheme.lower() == "bearer"
    assert jwt.get_unverified_header(token)["kid"] == "TESTKEY123"
    claims = jwt.decode(token, apns.public_key, algorithms=["ES256"])
    assert claims["iss"] == "TEAM123456" and abs(claims["iat"] - timezone.now().timestamp()) < 60

    payload = request["json"]
    assert payload["aps"]["alert"] == {"title": "A customer is waiting", "body": "Acme Inc"}
    assert payload["session_id"] == session.public_id and payload["kind"] == "customer_waiting"
    assert payload["organization_id"] == session.organization.public_id
    assert "Carla" not in str(payload) and "bob@" not in str(payload)  # nothing personal on a lock screen

    message = PushMessage.objects.get()
    assert message.status == "sent" and message.attempts == 1
    assert message.provider_message_id == headers["apns-id"]


@pytest.mark.parametrize(("status", "reason"), [(410, "Unregistered"), (400, "BadDeviceToken")])
def test_a_token_apple_no_longer_knows_disables_the_registration(
    apns, bob, bobs_iphone, django_capture_on_commit_callbacks, status, reason
):
    apns.answers = [(status, reason)]
    customer_joins_bobs_session(bob, django_capture_on_commit_callbacks)

    message = PushMessage.objects.get()
    assert message.status == "dropped" and reason in message.last_error
    bobs_iphone.refresh_from_db()
    assert bobs_iphone.disabled_at is not None and not bobs_iphone.device.push_token
    # The next customer writes no message for the dead token, and Apple hears nothing more.
    customer_joins_bobs_session(bob, django_capture_on_commit_callbacks)
    assert PushMessage.objects.count() == 1 and len(apns.requests) == 1


def test_a_500_is_retried_later_and_the_message_arrives_exactly_once(
    apns, bob, bobs_iphone, django_capture_on_commit_callbacks
):
    apns.answers = [(500, "InternalServerError")]
    customer_joins_bobs_session(bob, django_capture_on_commit_callbacks)

    message = PushMessage.objects.get()
    assert message.status == "pending" and message.attempts == 1 and "500" in message.last_error
    now = timezone.now()
    assert message.next_attempt_at > now
    assert services.sweep(now) == []  # not due yet
    assert services.deliver(message.pk, now=now) is None  # nor for a worker that gets it early

    later = message.next_attempt_at + timedelta(seconds=1)
    assert services.sweep(later) == [message.pk]
    assert services.deliver(message.pk, now=later).status == "sent"
    # Sent is final: a duplicate task, a later sweep, a second worker send nothing.
    assert services.deliver(message.pk, now=later + timedelta(minutes=5)) is None
    assert services.sweep(later + timedelta(hours=1)) == []
    assert len(apns.requests) == 2 and apns.answered_ok == 1
    message.refresh_from_db()
    assert message.attempts == 2 and message.sent_at is not None


def test_apple_not_answering_is_a_timeout_retried_until_the_attempts_run_out(apns, settings, acme, bob, bobs_iphone):
    settings.CONNECT_PUSH_TIMEOUT_SECONDS = 0.3
    apns.answers = [(None, "")] * services.MAX_ATTEMPTS
    [message] = services.notify_meeting_invitation(user=bob, organization=acme, meeting_id="mtg_1")
    now = timezone.now()
    for attempt in range(1, services.MAX_ATTEMPTS + 1):
        delivered = services.deliver(message.pk, now=now)
        assert delivered.attempts == attempt and "in time" in delivered.last_error
        now = delivered.next_attempt_at + timedelta(seconds=1)
    assert delivered.status == "failed"
    assert services.deliver(message.pk, now=now + timedelta(days=1)) is None
    assert len(apns.requests) == services.MAX_ATTEMPTS and apns.answered_ok == 0


def test_a_key_that_cannot_sign_fails_the_message_without_retrying(apns, settings, tmp_path, acme, bob, bobs_iphone):
    bad_key = tmp_path / "not-a-key.p8"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    settings.CONNECT_APNS_KEY_FILE = str(bad_key)
    [message] = services.notify_customer_waiting(user=bob, organization=acme, session_id="ses_1")
    delivered = services.deliver(message.pk)
    assert delivered.status == "failed" and "token authentication" in delivered.last_error
    assert apns.requests == []
