"""Webhooks: the outbox, Standard Webhooks signatures (checked by the independent `standardwebhooks` package),
retries with controlled time, Retry-After, 410, auto-disable, redelivery, stale claims, and SSRF refusals."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from connect import outbound
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.tests.factories import WebhookDeliveryFactory
from integrations.webhooks import services as webhooks
from orgs.tenancy import org_context_for_user
from sessions import services as session_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(acme, receiver):
    return webhooks.endpoint_create(organization=acme, url=receiver.url)


def verify(endpoint_secret: str, request: dict) -> dict:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return Webhook(endpoint_secret).verify(request["body"], headers)


def test_a_real_session_reaches_the_receiver_signed(acme, bob, endpoint, receiver, django_capture_on_commit_callbacks):
    org = org_context_for_user(bob, "acme")
    customer = session_services.Actor(kind="customer")
    with django_capture_on_commit_callbacks(execute=True):
        session = session_services.session_start(org=org, actor=session_services.Actor(kind="agent", user=bob))
    with django_capture_on_commit_callbacks(execute=True):
        session, _token = session_services.session_join(
            code=session.code, actor=session_services.Actor(kind="customer")
        )
    with django_capture_on_commit_callbacks(execute=True):
        session = session_services.session_grant_consent(session=session, actor=customer)
    with django_capture_on_commit_callbacks(execute=True):
        session_services.session_end(session=session, actor=session_services.Actor(kind="agent", user=bob))
    payloads = [verify(endpoint.secret, request) for request in receiver.requests]
    assert [p["type"] for p in payloads] == ["session.created", "session.started", "session.ended"]
    ended = payloads[-1]["data"]
    assert ended["id"] == session.public_id and ended["end_reason"] == "agent_ended"
    assert isinstance(ended["duration_seconds"], int)
    assert WebhookDelivery.objects.for_org(acme).filter(status="succeeded").count() == 3


def test_no_event_for_a_change_that_rolled_back(acme, bob, endpoint, receiver):
    org = org_context_for_user(bob, "acme")
    with pytest.raises(RuntimeError), transaction.atomic():
        session_services.session_start(org=org, actor=session_services.Actor(kind="agent", user=bob))
        raise RuntimeError("the request failed after the write")
    assert not WebhookEvent.objects.for_org(acme).exists() and receiver.requests == []


def test_event_type_filter(acme, bob, receiver, django_capture_on_commit_callbacks):
    webhooks.endpoint_create(organization=acme, url=receiver.url, event_types=["session.ended"])
    with django_capture_on_commit_callbacks(execute=True):
        session_services.session_start(
            org=org_context_for_user(bob, "acme"), actor=session_services.Actor("agent", bob)
        )
    assert receiver.requests == [] and not WebhookEvent.objects.for_org(acme).exists()


def test_secret_rotation_signs_with_both_for_a_day(acme, endpoint, receiver, django_capture_on_commit_callbacks):
    old_secret = endpoint.secret
    webhooks.endpoint_rotate_secret(endpoint=endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert verify(old_secret, request)["type"] == "webhook.test"
    assert verify(endpoint.secret, request)["type"] == "webhook.test"
    # A day later only the new secret signs.
    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint)
    assert len(receiver.requests[-1]["headers"]["webhook-signature"].split(" ")) == 1
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        verify(old_secret, receiver.requests[-1])


def _event_for(endpoint):
    """A pending delivery of a test event to ``endpoint``: the rows the outbox writes, without sending them."""
    return WebhookDeliveryFactory(
        event__organization=endpoint.organization, event__type="webhook.test", event__data={"n": 1}, endpoint=endpoint
    )


def test_retries_follow_the_schedule(endpoint, receiver):
    delivery = _event_for(endpoint)
    t0 = timezone.now()
    receiver.responses = [(500, {})] * 3
    assert webhooks.attempt(delivery.pk, now=t0).next_attempt_at == t0 + timedelta(seconds=5)
    assert webhooks.attempt(delivery.pk, now=t0 + timedelta(seconds=1)) is None  # not due yet: nothing sent
    assert len(receiver.requests) == 1
    second = webhooks.attempt(delivery.pk, now=t0 + timedelta(seconds=5))
    assert second.next_attempt_at == t0 + timedelta(seconds=5 + 300) and second.attempts == 2
    third = webhooks.attempt(delivery.pk, now=second.next_attempt_at)
    assert third.next_attempt_at == second.next_attempt_at + timedelta(minutes=30)
    # Every attempt carries the same webhook-id.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert [a.status_code for a in third.attempt_log.all()] == [500, 500, 500]
    fourth = webhooks.attempt(delivery.pk, now=third.next_attempt_at)
    assert fourth.status == "succeeded"


def test_gives_up_after_the_last_retry(endpoint, receiver):
    delivery = _event_for(endpoint)
    now = timezone.now()
    receiver.responses = [(500, {})] * len(webhooks.RETRY_SCHEDULE)
    for _ in webhooks.RETRY_SCHEDULE:
        delivery = webhooks.attempt(delivery.pk, now=now)
        now = delivery.next_attempt_at or now
    assert delivery.status == "failed" and delivery.attempts == len(webhooks.RETRY_SCHEDULE)


def test_retry_after_is_honoured(endpoint, receiver):
    delivery = _event_for(endpoint)
    t0 = timezone.now()
    receiver.responses = [(503, {"Retry-After": "120"})]
    assert webhooks.attempt(delivery.pk, now=t0).next_attempt_at == t0 + timedelta(seconds=120)


def test_gone_disables_the_endpoint(endpoint, receiver, carol):
    delivery = _event_for(endpoint)
    receiver.responses = [(410, {})]
    assert webhooks.attempt(delivery.pk).status == "failed"
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert "carol@acme.test" in mail.outbox[-1].to


def test_five_days_of_failures_disable_and_tell_the_admins(endpoint, receiver, alice):
    delivery = _event_for(endpoint)
    t0 = timezone.now()
    receiver.responses = [(500, {})] * 2
    webhooks.attempt(delivery.pk, now=t0)
    second = _event_for(endpoint)
    webhooks.attempt(second.pk, now=t0 + timedelta(days=5, seconds=1))
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason
    assert mail.outbox and "alice@acme.test" in mail.outbox[-1].to


def test_redirects_are_failures_and_not_followed(endpoint, receiver):
    delivery = _event_for(endpoint)
    receiver.responses = [(302, {"Location": "http://10.0.0.1/metadata"})]
    delivery = webhooks.attempt(delivery.pk)
    assert delivery.status == "pending" and delivery.attempt_log.get().status_code == 302
    assert len(receiver.requests) == 1


def test_redeliver_sends_again_with_the_same_id(endpoint, receiver, django_capture_on_commit_callbacks):
    delivery = _event_for(endpoint)
    webhooks.attempt(delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.delivery_redeliver(delivery=WebhookDelivery.objects.filter(endpoint=endpoint).get(pk=delivery.pk))
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]


def test_a_delivery_claimed_by_a_worker_that_died_is_delivered_once_more(endpoint, receiver):
    delivery = _event_for(endpoint)
    t0 = timezone.now()
    assert webhooks.claim(delivery.pk, t0)  # a worker took it, then was killed before sending
    assert webhooks.attempt(delivery.pk, now=t0 + timedelta(seconds=10)) is None  # still its claim
    assert webhooks.due_deliveries(t0 + timedelta(seconds=10)) == []
    later = t0 + webhooks.stale_claim() + timedelta(seconds=1)
    assert webhooks.due_deliveries(later) == [delivery.pk]
    assert webhooks.attempt(delivery.pk, now=later).status == "succeeded"
    assert webhooks.attempt(delivery.pk, now=later + timedelta(minutes=5)) is None
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://100.64.1.1/hook",
        "https://[fe80::1]/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
    ],
)
def test_internal_addresses_are_refused_before_connecting(url, monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    with pytest.raises(outbound.BlockedURL):
        outbound.post(url, b"{}", {})


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
    )
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected"))
    with pytest.raises(outbound.BlockedURL, match="10.1.2.3"):
        outbound.post("https://hooks.example.com/x", b"{}", {})


def test_plain_http_is_refused_outside_debug(settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    with pytest.raises(outbound.BlockedURL, match="https"):
        outbound.check_url("http://hooks.example.com/x")


def test_endpoint_urls_are_checked_when_saved(acme, settings):
    from connect.errors import ApplicationError

    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    with pytest.raises(ApplicationError):
        webhooks.endpoint_create(organization=acme, url="ftp://example.com/x")
    with pytest.raises(ApplicationError):
        webhooks.endpoint_create(organization=acme, url="https://example.com/x", event_types=["nope"])
    assert not WebhookEndpoint.objects.for_org(acme).exists()


def test_body_is_the_standard_shape(endpoint, receiver):
    webhooks.attempt(_event_for(endpoint).pk)
    body = json.loads(receiver.requests[0]["body"])
    assert set(body) == {"type", "timestamp", "data"} and body["timestamp"].endswith("Z")


def test_webhooks_api(acme, carol, bob, globex, gina, receiver, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(carol)
    created = client.post("/api/v1/webhooks", {"url": receiver.url, "event_types": ["session.ended"]}, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    endpoint_id = created.json()["id"]
    assert "secret" not in client.get(f"/api/v1/webhooks/{endpoint_id}").json()
    bad = client.post("/api/v1/webhooks", {"url": "https://x.example", "event_types": ["nope"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_event_types"

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/webhooks/{endpoint_id}/test").status_code == 202
    deliveries = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["results"]
    assert deliveries[0]["status"] == "succeeded" and deliveries[0]["attempt_log"][0]["status_code"] == 200
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{deliveries[0]['id']}/redeliver")
    assert again.status_code == 200 and len(receiver.requests) == 2

    rotated = client.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret").json()
    assert rotated["secret"] != created.json()["secret"]

    # An agent lacks webhooks:write; another organization cannot see the endpoint at all.
    client.force_login(bob)
    assert client.post("/api/v1/webhooks", {"url": receiver.url}, format="json").status_code == 403
    client.force_login(gina)
    assert client.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    assert client.post(f"/api/v1/webhooks/{endpoint_id}/test").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    assert WebhookEndpoint.objects.for_org(acme).filter(public_id=endpoint_id).exists()


def test_docs_list_every_event_type():
    from pathlib import Path

    from integrations.webhooks.catalogue import EVENT_TYPES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    for event_type in EVENT_TYPES:
        assert f"| `{event_type}` |" in doc, event_type
