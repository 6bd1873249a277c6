"""FCM HTTP v1 through the real firebase-admin client: the OAuth2 exchange with the service account, the message
JSON Google receives, token refusals and retries."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from orgs.tenancy import org_context_for_user
from push import services
from push.models import PushMessage, PushRegistration
from sessions import services as session_services
from sessions import workflow

from .conftest import native_app

pytestmark = pytest.mark.django_db

TOKEN = "fcm-registration-token:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


def register_android(user, token=TOKEN) -> PushRegistration:
    app = native_app(user)
    response = app.client.post("/api/v1/push/registrations", {"provider": "fcm", "token": token}, format="json")
    assert response.status_code == 200, response.content
    return PushRegistration.objects.get(public_id=response.json()["id"])


def start_and_join(bob, run):
    org = org_context_for_user(bob, "acme")
    with run(execute=True):
        session = session_services.session_start(org=org, actor=session_services.Actor(kind="agent", user=bob))
    with run(execute=True):
        session, _ = session_services.session_join(
            code=session.code, actor=session_services.Actor(kind="customer"), name="Carla Customer"
        )
    return session


def test_a_waiting_customer_reaches_fcm_as_a_high_priority_message(fcm, bob, django_capture_on_commit_callbacks):
    register_android(bob)
    session = start_and_join(bob, django_capture_on_commit_callbacks)

    # firebase-admin signed a JWT with the service account's key and exchanged it at the token_uri.
    [token_request] = fcm.token_requests
    assert token_request["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = jwt.decode(
        token_request["assertion"][0],
        fcm.public_key,
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",  # google-auth's fixed audience, whatever the token_uri
    )
    assert assertion["iss"] == "push@connect-test.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/cloud-platform" in assertion["scope"].split()

    [request] = fcm.requests
    assert request["path"] == "/v1/projects/connect-test/messages:send"
    assert request["headers"]["authorization"] == f"Bearer {fcm.ACCESS_TOKEN}"
    message = request["json"]["message"]
    assert message["token"] == TOKEN
    assert message["notification"] == {"title": "A customer is waiting", "body": "Acme Inc"}
    assert message["data"] == {
        "kind": "customer_waiting",
        "organization_id": session.organization.public_id,
        "session_id": session.public_id,
    }
    android = message["android"]
    assert android["priority"] == "high" and android["collapse_key"] == f"session:{session.public_id}"
    assert 9 * 60 < int(android["ttl"].rstrip("s")) <= 10 * 60
    apns_headers = message["apns"]["headers"]
    assert apns_headers["apns-priority"] == "10" and apns_headers["apns-push-type"] == "alert"
    assert apns_headers["apns-collapse-id"] == f"session:{session.public_id}"
    assert int(apns_headers["apns-expiration"]) > timezone.now().timestamp()
    assert "Carla" not in str(message)

    row = PushMessage.objects.get()
    assert row.status == "sent" and row.provider_message_id.startswith("projects/connect-test/messages/")


def test_a_transfer_reaches_the_new_agent_at_normal_priority(fcm, acme, bob, carol, django_capture_on_commit_callbacks):
    register_android(bob, token="bobs-phone")
    register_android(carol, token="carols-phone")
    session = start_and_join(bob, django_capture_on_commit_callbacks)
    fcm.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.session_transfer(
            org=org_context_for_user(bob, "acme"),
            session=session,
            to_agent_id=carol.public_id,
            actor=session_services.Actor(kind="agent", user=bob),
        )
    [request] = fcm.requests
    message = request["json"]["message"]
    assert message["token"] == "carols-phone"
    assert message["notification"]["title"] == "A support session was handed to you"
    assert message["data"]["kind"] == "transfer" and message["android"]["priority"] == "normal"
    assert message["apns"]["headers"]["apns-priority"] == "5"


@pytest.mark.parametrize("code", ["UNREGISTERED", ""])  # "" : a bare 404 NOT_FOUND
def test_a_token_fcm_no_longer_knows_disables_the_registration(fcm, bob, django_capture_on_commit_callbacks, code):
    registration = register_android(bob)
    fcm.answers = [(404, code)]
    start_and_join(bob, django_capture_on_commit_callbacks)
    row = PushMessage.objects.get()
    assert row.status == "dropped" and "NOT_FOUND" in row.last_error
    registration.refresh_from_db()
    assert registration.disabled_at is not None
    assert services.registrations_of(bob).count() == 0


def test_fcm_busy_is_retried_by_the_sweep_and_sent_once(fcm, bob, django_capture_on_commit_callbacks):
    register_android(bob)
    fcm.answers = [(429, "QUOTA_EXCEEDED")]
    start_and_join(bob, django_capture_on_commit_callbacks)
    row = PushMessage.objects.get()
    assert row.status == "pending" and row.attempts == 1

    later = row.next_attempt_at + timedelta(seconds=1)
    from push.tasks import deliver_due

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        assert deliver_due() == 1
        assert deliver_due() == 0
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2
    assert len(fcm.requests) == 2 and fcm.answered_ok == 1


def test_a_single_500_is_retried_by_firebase_admin_itself_and_sent_once(fcm, bob, django_capture_on_commit_callbacks):
    register_android(bob)
    fcm.answers = [(500, "")]
    start_and_join(bob, django_capture_on_commit_callbacks)
    row = PushMessage.objects.get()
    assert row.status == "sent" and row.attempts == 1
    assert len(fcm.requests) == 2 and fcm.answered_ok == 1
