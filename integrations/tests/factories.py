"""Factories for integrations: API keys, OAuth2 applications, webhooks and single sign-on settings, keeping the
invariants integrations.credentials.services and integrations.webhooks.services keep.

Secrets stored hashed come back in plaintext on the instance, under the name the service returns them by:
``api_key.secret`` (the key a client presents) and ``application.secret`` (the client secret; the toolkit hashes
``client_secret`` when the row is saved). A webhook endpoint's signing secret is stored as it is, as the service
stores it, since the product must sign with it.
"""

from __future__ import annotations

import secrets

import factory
from django.utils import timezone

from connect.ids import new_secret, secret_hash
from integrations.credentials.services import API_KEY_PREFIX
from integrations.models import (
    APIKey,
    Application,
    DeliveryAttempt,
    OrganizationSSO,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from integrations.webhooks import services as webhooks
from orgs.models import Role
from orgs.tests.factories import KeepsPlaintext, OrganizationFactory

# TEST-NET-3: an address the outbound guard accepts, and one nothing answers at.
WEBHOOK_URL = "https://203.0.113.9/hooks/connect"


class APIKeyFactory(KeepsPlaintext):
    """An active key with read access to members; ``key.secret`` is the bearer."""

    _plaintext = "secret"

    class Meta:
        model = APIKey

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Key {n}")
    secret = factory.LazyFunction(lambda: new_secret(API_KEY_PREFIX, 32))
    prefix = factory.LazyAttribute(lambda o: o.secret[:12])
    key_hash = factory.LazyAttribute(lambda o: secret_hash(o.secret))
    scopes = factory.LazyFunction(lambda: ["members:read"])


class ApplicationFactory(KeepsPlaintext):
    """A confidential client-credentials application; ``authorization_code=True`` for the browser flow.
    ``application.secret`` is the client secret."""

    _plaintext = "secret"

    class Meta:
        model = Application

    class Params:
        authorization_code = factory.Trait(
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="https://app.example.test/callback",
        )

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    client_type = Application.CLIENT_CONFIDENTIAL
    authorization_grant_type = Application.GRANT_CLIENT_CREDENTIALS
    redirect_uris = ""
    secret = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    client_secret = factory.SelfAttribute("secret")
    scopes = factory.LazyFunction(lambda: ["members:read"])
    skip_authorization = False


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An enabled endpoint for every event type."""

    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = WEBHOOK_URL
    event_types = factory.LazyFunction(list)
    secret = factory.LazyFunction(webhooks.new_secret)


class WebhookEventFactory(factory.django.DjangoModelFactory):
    """An outbox row, as a service's event leaves it (without the deliveries the recorder would add)."""

    class Meta:
        model = WebhookEvent

    organization = factory.SubFactory(OrganizationFactory)
    type = "session.created"
    data = factory.LazyFunction(lambda: {"id": "ses_factory"})


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery, due now, of an event to an endpoint of the same organization."""

    class Meta:
        model = WebhookDelivery

    event = factory.SubFactory(WebhookEventFactory)
    endpoint = factory.SubFactory(WebhookEndpointFactory, organization=factory.SelfAttribute("..event.organization"))
    status = WebhookDelivery.Status.PENDING
    next_attempt_at = factory.LazyFunction(timezone.now)


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    """An attempt the receiver accepted; ``status_code=500`` (or ``error=...``) for a failed one."""

    class Meta:
        model = DeliveryAttempt

    delivery = factory.SubFactory(WebhookDeliveryFactory, attempts=1)
    status_code = 200
    latency_ms = 42
    response_excerpt = "ok"


class OrganizationSSOFactory(factory.django.DjangoModelFactory):
    """BizGaze suite sign-in on (a random shared secret); OpenID Connect off."""

    class Meta:
        model = OrganizationSSO

    organization = factory.SubFactory(OrganizationFactory)
    bizgaze_secret = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    default_role = Role.AGENT
