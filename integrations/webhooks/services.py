"""Webhook endpoints, the outbox, signing and delivery (Standard Webhooks).

Delivery is at least once: a delivery is claimed with a conditional UPDATE; a claim older than
``CONNECT_WEBHOOK_STALE_CLAIM_SECONDS`` (its worker died mid-request) may be claimed again, by the beat sweeper.
Celery acknowledges late, so a killed worker's message comes back too; the claim keeps it from sending twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import secrets
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements
from connect import events, metrics, outbound
from connect.errors import ApplicationError
from orgs.models import Membership, Organization, Role

from ..models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .catalogue import EVENT_TYPES

logger = logging.getLogger(__name__)

# Seconds to wait before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
MAX_RETRY_AFTER = 10 * 3600
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
TIMEOUT_SECONDS = 15


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signature_header(endpoint: WebhookEndpoint, message_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """The current secret's signature, and during a rotation the previous one's as well (space-separated)."""
    signatures = [sign(endpoint.secret, message_id, timestamp, body)]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        signatures.append(sign(endpoint.previous_secret, message_id, timestamp, body))
    return " ".join(signatures)


# --- Endpoints ------------------------------------------------------------------------------------------


def _clean_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ApplicationError(
            _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)},
            code="invalid_event_types",
            details={"field": "event_types", "choices": sorted(EVENT_TYPES)},
        )
    return sorted(set(event_types))


def _clean_url(url: str) -> str:
    """``url`` if a delivery to it would be attempted; refused (``invalid_url``) if delivery would refuse it.

    The same checks as a delivery (connect.outbound): scheme, credentials, and every address the host names, so an
    address inside our network is refused when it is saved rather than at each delivery. A name that does not
    resolve yet is accepted (deliveries retry, and a delivery checks the address again). Called before the write
    transaction opens: a DNS lookup must not hold the database's write lock.
    """
    try:
        outbound.check_public_url(url)
    except outbound.BlockedURL as exc:
        raise ApplicationError(
            _("This URL cannot receive webhooks: %(reason)s") % {"reason": exc},
            code="invalid_url",
            details={"field": "url"},
        ) from None
    except outbound.OutboundError:
        pass  # the host does not resolve (yet)
    return url


# What an endpoint's audit entries show of a change: never the secrets, nor the bookkeeping of failures.
AUDITED_ENDPOINT_FIELDS = ("url", "event_types", "description", "enabled")


def endpoint_create(
    *,
    organization: Organization,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    actor: object = None,
) -> WebhookEndpoint:
    """Add an endpoint. ``actor`` is who does it (an OrgContext, a user; None: an operator or the system)."""
    entitlements.require_feature(organization, "webhooks")
    url = _clean_url(url)
    event_types = _clean_event_types(event_types or [])
    with transaction.atomic():
        return _endpoint_create(
            organization=organization, url=url, event_types=event_types, description=description, actor=actor
        )


def _endpoint_create(
    *, organization: Organization, url: str, event_types: list[str], description: str, actor: object
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        event_types=event_types,
        description=description.strip(),
        secret=new_secret(),
    )
    audit_record(
        organization=organization,
        action="webhook.created",
        actor=actor,
        target=endpoint,
        target_label=endpoint.url,
        data={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint


def endpoint_update(*, endpoint: WebhookEndpoint, actor: object = None, **changes) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or whether it is enabled; nothing is written when nothing
    changes."""
    if "url" in changes and changes["url"] != endpoint.url:
        changes["url"] = _clean_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _clean_event_types(changes["event_types"])
    with transaction.atomic():
        return _endpoint_update(endpoint=endpoint, actor=actor, **changes)


def _endpoint_update(*, endpoint: WebhookEndpoint, actor: object, **changes) -> WebhookEndpoint:
    if "description" in changes:
        changes["description"] = (changes["description"] or "").strip()
    changed = {
        name: [getattr(endpoint, name), value] for name, value in changes.items() if getattr(endpoint, name) != value
    }
    # Enabling an enabled endpoint still clears the failure count it is building up, without an audit entry.
    if not changed and not (changes.get("enabled") is True and endpoint.failing_since):
        return endpoint
    if changes.get("enabled") is True:
        changes.update(disabled_reason="", failing_since=None)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save()
    if not changed:
        return endpoint
    audit_record(
        organization=endpoint.organization,
        action="webhook.updated",
        actor=actor,
        target=endpoint,
        target_label=endpoint.url,
        data={"changes": {name: values for name, values in changed.items() if name in AUDITED_ENDPOINT_FIELDS}},
    )
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: datetime | None = None, actor: object = None
) -> WebhookEndpoint:
    """A new secret; the old one keeps signing for 24 hours so receivers can switch without losing events."""
    now = now or timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit_record(
        organization=endpoint.organization,
        action="webhook.secret_rotated",
        actor=actor,
        target=endpoint,
        target_label=endpoint.url,
        data={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: object = None) -> None:
    """Remove an endpoint with its pending deliveries."""
    audit_record(
        organization=endpoint.organization,
        action="webhook.deleted",
        actor=actor,
        target=endpoint,
        target_label=endpoint.url,
        data={"url": endpoint.url},
    )
    endpoint.delete()


# --- The outbox -----------------------------------------------------------------------------------------


def record(event: events.Event) -> WebhookEvent | None:
    """Write the event and its deliveries in the caller's transaction; enqueue them once it commits.

    An event outside the catalogue (an in-process one such as ``session.expired``) is not for webhooks: nothing is
    written."""
    if event.type not in EVENT_TYPES:
        return None
    organization = event.organization
    endpoints = [e for e in WebhookEndpoint.objects.for_org(organization).filter(enabled=True) if e.wants(event.type)]
    if not endpoints:
        return None
    return _enqueue(organization, event.type, event.webhook_data(), endpoints)


def _enqueue(organization: Organization, event_type: str, data: dict, endpoints: list[WebhookEndpoint]) -> WebhookEvent:
    now = timezone.now()
    event = WebhookEvent.objects.create(organization=organization, type=event_type, data=data)
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now) for endpoint in endpoints]
    )
    ids = [d.pk for d in deliveries] or list(
        WebhookDelivery.objects.for_org(organization).filter(event=event).values_list("pk", flat=True)
    )

    def enqueue() -> None:
        from .tasks import deliver_webhook

        for delivery_id in ids:
            deliver_webhook.delay(delivery_id)

    transaction.on_commit(enqueue)
    return event


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    with transaction.atomic():
        # Built through its declaration like every event, but sent to this one endpoint only (not emitted).
        event = events.WebhookTest(
            organization=endpoint.organization,
            actor=events.Actor.system(),
            endpoint_id=endpoint.public_id,
            message="This is a test event from BizGaze Connect.",
        )
        events.check(event)
        return _enqueue(endpoint.organization, event.type, event.webhook_data(), [endpoint])


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever became of it (same webhook-id)."""
    WebhookDelivery.objects.filter(endpoint_id=delivery.endpoint_id, pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), claimed_at=None
    )
    from .tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    delivery.refresh_from_db()
    return delivery


# --- Delivery -------------------------------------------------------------------------------------------


# A Celery task names its delivery by id (tasks take ids and re-fetch): the worker reads it whatever the organization.
WORKER_BY_ID = "webhook worker: a task names its delivery by id"


def stale_claim() -> timedelta:

    return timedelta(seconds=settings.CONNECT_WEBHOOK_STALE_CLAIM_SECONDS)


def claim(delivery_id: int, now: datetime) -> bool:
    """Take a due delivery for this worker; of two workers only one wins. A stale claim may be taken over."""
    return (
        WebhookDelivery.objects.unscoped(WORKER_BY_ID)
        .filter(pk=delivery_id)
        .filter(
            Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=WebhookDelivery.Status.DELIVERING, claimed_at__lt=now - stale_claim())
        )
        .update(status=WebhookDelivery.Status.DELIVERING, claimed_at=now)
        == 1
    )


def due_deliveries(now: datetime) -> list[int]:
    return list(
        WebhookDelivery.objects.unscoped("beat sweep: due deliveries and retries of every organization")
        .filter(
            Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=WebhookDelivery.Status.DELIVERING, claimed_at__lt=now - stale_claim())
        )
        .values_list("pk", flat=True)[:500]
    )


def _retry_after_seconds(value: str | None, now: datetime) -> int | None:
    if not value:
        return None
    try:
        return max(0, min(int(value), MAX_RETRY_AFTER))
    except ValueError:
        try:
            return max(0, min(int((parsedate_to_datetime(value) - now).total_seconds()), MAX_RETRY_AFTER))
        except (TypeError, ValueError):
            return None


def attempt(delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Claim and attempt one delivery; record the attempt; schedule the next or give up. ``now`` is for tests."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return None
    delivery = (
        WebhookDelivery.objects.unscoped(WORKER_BY_ID)
        .select_related("event", "endpoint", "endpoint__organization")
        .get(pk=delivery_id)
    )
    endpoint, event = delivery.endpoint, delivery.event
    # From here on, the delivery's own organization: every write below names its endpoint.
    mine = WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery.pk)
    if not endpoint.enabled:
        mine.update(status=WebhookDelivery.Status.FAILED)
        metrics.webhook_attempted(outcome="gave_up")  # nothing sent: the endpoint was switched off meanwhile
        return delivery
    body = json.dumps(
        {"type": event.type, "timestamp": event.created_at.isoformat().replace("+00:00", "Z"), "data": event.data},
        separators=(",", ":"),
    ).encode()
    timestamp = int(now.timestamp())
    headers = {
        "webhook-id": event.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint, event.public_id, timestamp, body, now),
        "User-Agent": "BizGaze-Connect-Webhooks/1",
    }
    status_code, excerpt, error, latency, retry_after = None, "", "", 0, None
    try:
        response = outbound.post(endpoint.url, body, headers, timeout=TIMEOUT_SECONDS)
        status_code, latency = response.status, response.elapsed_ms
        excerpt = response.body[:500].decode("utf-8", "replace")
        retry_after = _retry_after_seconds(response.headers.get("retry-after"), now)
    except outbound.BlockedURL as exc:
        error = f"refused: {exc}"[:300]
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    DeliveryAttempt.objects.create(
        delivery=delivery, status_code=status_code, latency_ms=latency, response_excerpt=excerpt, error=error
    )
    attempts = delivery.attempts + 1
    fields: dict = {"attempts": attempts, "claimed_at": None}
    if status_code is not None and 200 <= status_code < 300:
        fields["status"] = WebhookDelivery.Status.SUCCEEDED
        WebhookEndpoint.objects.for_org(endpoint.organization).filter(pk=endpoint.pk).update(failing_since=None)
    elif status_code == 410:
        fields["status"] = WebhookDelivery.Status.FAILED
        _disable(endpoint, _("The endpoint answered 410 Gone."))
    else:
        if attempts >= len(RETRY_SCHEDULE):
            fields["status"] = WebhookDelivery.Status.FAILED
        else:
            wait = retry_after if retry_after is not None else RETRY_SCHEDULE[attempts]
            fields.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now + timedelta(seconds=wait))
        failing_since = endpoint.failing_since or now
        if not endpoint.failing_since:
            WebhookEndpoint.objects.for_org(endpoint.organization).filter(
                pk=endpoint.pk, failing_since__isnull=True
            ).update(failing_since=now)
        if now - failing_since >= DISABLE_AFTER:
            _disable(endpoint, _("Every delivery failed for 5 days."))
    mine.update(**fields)
    outcome = {WebhookDelivery.Status.SUCCEEDED: "delivered", WebhookDelivery.Status.PENDING: "failed"}
    metrics.webhook_attempted(
        outcome=outcome.get(fields["status"], "gave_up"),
        lag_seconds=(now - event.created_at).total_seconds(),
        first=attempts == 1,
    )
    delivery.refresh_from_db()
    return delivery


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    with transaction.atomic():
        changed = (
            WebhookEndpoint.objects.for_org(endpoint.organization)
            .filter(pk=endpoint.pk, enabled=True)
            .update(enabled=False, disabled_reason=reason)
        )
        if not changed:
            return
        audit_record(
            organization=endpoint.organization,
            action="webhook.disabled",
            target=endpoint,
            target_label=endpoint.url,
            data={"reason": reason},
        )
    admins = Membership.objects.for_org(endpoint.organization).filter(role__in=[Role.OWNER, Role.ADMIN])
    recipients = [m.user.email for m in admins.select_related("user")]
    if recipients:
        send_mail(
            _("Webhook endpoint disabled: %(url)s") % {"url": endpoint.url},
            _(
                "BizGaze Connect stopped sending events to %(url)s of %(org)s: %(reason)s Fix the endpoint and "
                "enable it again in the organization's webhook settings."
            )
            % {"url": endpoint.url, "org": endpoint.organization.name, "reason": reason},
            None,
            recipients,
        )
    logger.warning("webhook endpoint %s disabled: %s", endpoint.public_id, reason)
