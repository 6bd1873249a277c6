"""Every model of ours has a factory, and each factory builds a row the product accepts: it passes the model's
validation, sits in the organization it claims, and the secrets it hands back work where a client presents them.

A model added without a factory fails ``test_every_model_has_a_factory``, naming it.
"""

from __future__ import annotations

import base64
import importlib
from functools import reduce

import factory
import pytest
from django.apps import apps
from django.db import models
from rest_framework.test import APIClient

from integrations.credentials import services as integration_services
from integrations.webhooks import services as webhooks
from orgs import devices
from orgs import services as org_services
from orgs.tests.factories import PASSWORD
from sessions import services as session_services

pytestmark = pytest.mark.django_db

# App labels whose models are ours to cover (``support`` is the sessions app).
APP_LABELS = ("orgs", "support", "integrations")
FACTORY_MODULES = ("orgs.tests.factories", "sessions.tests.factories", "integrations.tests.factories")


def _factories() -> dict[type[models.Model], type[factory.django.DjangoModelFactory]]:
    found = {}
    for name in FACTORY_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, factory.django.DjangoModelFactory)
                and not value._meta.abstract
                and value._meta.model is not None
            ):
                found.setdefault(value._meta.model, value)
    return found


def _our_models() -> list[type[models.Model]]:
    return [model for label in APP_LABELS for model in apps.get_app_config(label).get_models()]


FACTORIES = _factories()


def test_every_model_has_a_factory():
    missing = sorted(model._meta.label for model in _our_models() if model not in FACTORIES)
    assert not missing, f"models without a factory in {', '.join(FACTORY_MODULES)}: {missing}"
    assert len(_our_models()) >= 15


@pytest.mark.parametrize("model", _our_models(), ids=lambda model: model._meta.label)
def test_each_factory_creates_a_valid_row_in_its_organization(model):
    instance = FACTORIES[model]()
    instance.full_clean()  # field choices, lengths and formats, and uniqueness against every organization
    org_path = getattr(model, "org_path", None)
    if org_path is None:
        assert model._default_manager.filter(pk=instance.pk).exists()
        return
    organization = reduce(getattr, org_path.split("__"), instance)
    assert model.objects.for_org(organization).filter(pk=instance.pk).exists()
    other = FACTORIES[apps.get_model("orgs", "Organization")]()
    assert not model.objects.for_org(other).filter(pk=instance.pk).exists()


def test_a_second_row_of_each_factory_does_not_clash_with_the_first():
    for model, model_factory in FACTORIES.items():
        first, second = model_factory(), model_factory()
        assert first.pk != second.pk, model._meta.label


# --- The secrets the factories hand back work where a client presents them ------------------------------------


def test_a_user_signs_in_with_the_factory_password():
    from orgs.tests.factories import UserFactory

    user = UserFactory()
    assert user.check_password(PASSWORD)
    assert user.emailaddress_set.get().verified  # the sign-in page would otherwise ask to confirm the address


def test_an_invitation_token_opens_its_invitation():
    from orgs.tests.factories import InvitationFactory

    invitation = InvitationFactory()
    assert invitation.token not in (invitation.token_hash, "")
    found = org_services.invitation_by_token(invitation.token)
    assert found == invitation and found.state == "pending"
    org_services.invitation_check_usable(found)  # raises for an expired, revoked or accepted one


def test_a_device_token_authenticates_its_user():
    from orgs.models import DeviceToken
    from orgs.tests.factories import DeviceTokenFactory

    token = DeviceTokenFactory()
    assert devices.access_token_user(token.token)[0] == token.device.user
    refresh = DeviceTokenFactory(kind=DeviceToken.Kind.REFRESH, device=token.device)
    assert refresh.token.startswith(devices.REFRESH_PREFIX + "_")
    assert devices.token_refresh(refresh_token=refresh.token).device == token.device


def test_an_api_key_authenticates_its_organization():
    from integrations.tests.factories import APIKeyFactory

    key = APIKeyFactory()
    assert integration_services.api_key_check(key.secret) == key
    assert key.secret.startswith(key.prefix)
    client = APIClient()
    response = client.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert response.status_code == 200, response.content


def test_an_oauth_application_gets_a_token_with_its_client_secret():
    from integrations.tests.factories import ApplicationFactory

    application = ApplicationFactory()
    assert application.client_secret != application.secret  # stored hashed, as the toolkit stores it
    basic = base64.b64encode(f"{application.client_id}:{application.secret}".encode()).decode()
    response = APIClient().post(
        "/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert APIClient().get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_a_joined_session_answers_its_customer_token():
    from sessions.models import Status
    from sessions.tests.factories import SupportSessionFactory

    waiting = SupportSessionFactory()
    assert waiting.customer_token == "" and waiting.status == Status.WAITING
    assert session_services.session_for_code(waiting.code) == waiting
    joined = SupportSessionFactory(joined=True)
    assert session_services.session_for_customer(joined.public_id, joined.customer_token) == joined
    active = SupportSessionFactory(active=True)
    assert active.status == Status.ACTIVE and active.started_at and active.customer_token


def test_a_webhook_endpoint_secret_signs_and_a_delivery_stays_in_one_organization():
    from integrations.tests.factories import DeliveryAttemptFactory

    attempt = DeliveryAttemptFactory()
    delivery = attempt.delivery
    assert delivery.endpoint.organization == delivery.event.organization
    assert delivery.last_attempt == attempt
    signature = webhooks.sign(delivery.endpoint.secret, delivery.event.public_id, 1_700_000_000, b"{}")
    assert signature.startswith("v1,")
