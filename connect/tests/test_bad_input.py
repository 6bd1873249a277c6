"""Bad input of any kind gets a 4xx in the one error shape and never a 500, on every write operation of the API.

Every path is filled with real objects of the acting organization (a session, a member, an invitation, an API key,
an OAuth2 application, a webhook endpoint and one of its deliveries), so each case gets past routing and the object
lookup to the body parser and the input validation: a 404 here would mean the case never tested the body.
"""

from __future__ import annotations

import re

import pytest
import yaml
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from integrations.tests.factories import (
    APIKeyFactory,
    ApplicationFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from machines.tests.factories import EnrollmentTokenFactory, MachineFactory
from meetings.tests.factories import MeetingParticipantFactory
from orgs.tenancy import is_org_guarded
from orgs.tests.factories import DeviceFactory, InvitationFactory
from push.tests.factories import PushRegistrationFactory
from recordings.tests.factories import TranscriptFactory
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

BAD_BODIES = [
    ("{not json", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("null", "application/json"),
    ('"a string"', "application/json"),
    ('{"name": {"nested": true}, "email": 12, "role": [], "scopes": "x", "unknown_field": 1}', "application/json"),
    ('{"name": "' + "x" * 5000 + '"}', "application/json"),
    (b"\xff\xfe not utf-8", "application/json"),
    ("a=b", "application/x-www-form-urlencoded"),
]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Every app whose rows a request could change (the audit log records any change that happened).
OUR_APPS = ("orgs", "support", "integrations", "audit", "machines", "push", "recordings", "meetings")


def _write_operations() -> list[tuple[str, str, bool]]:
    """(path, method, takes a body) of every POST, PUT and PATCH the schema documents."""
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    return [
        (path, method, "requestBody" in operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "patch", "put")
    ]


@pytest.fixture
def owner_client(acme, alice) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(alice)
    return client


@pytest.fixture
def path_ids(acme, alice, bob) -> dict[str, str]:
    """A real object of Acme for every path parameter of the API."""
    endpoint = WebhookEndpointFactory(organization=acme)
    guest = MeetingParticipantFactory(meeting__organization=acme, meeting__host=alice)  # in the lobby
    return {
        "session_id": SupportSessionFactory(organization=acme, agent=alice).public_id,
        "member_id": bob.public_id,
        "invitation_id": InvitationFactory(organization=acme, invited_by=alice).public_id,
        "key_id": APIKeyFactory(organization=acme).public_id,
        "client_id": ApplicationFactory(organization=acme).client_id,
        "endpoint_id": endpoint.public_id,
        "delivery_id": WebhookDeliveryFactory(event__organization=acme, endpoint=endpoint).public_id,
        "device_id": DeviceFactory(user=alice).public_id,
        "machine_id": (machine := MachineFactory(organization=acme)).public_id,
        "group_id": machine.group.public_id,
        "token_id": EnrollmentTokenFactory(organization=acme).public_id,
        "registration_id": PushRegistrationFactory(device__user=alice).public_id,
        "recording_id": TranscriptFactory(
            recording__organization=acme, recording__session__agent=alice
        ).recording.public_id,
        "index": "0",
        "meeting_id": guest.meeting.public_id,
        "participant_id": guest.public_id,
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    unknown = sorted(set(PLACEHOLDER.findall(path)) - set(ids))
    assert not unknown, f"{path}: add a real object for {unknown} to the path_ids fixture"
    return PLACEHOLDER.sub(lambda m: ids[m.group(1)], path)


def _snapshot(organization) -> dict[str, list[dict]]:
    """Every row a request in ``organization`` could have changed, field by field."""
    state = {}
    labels = sorted({config.label for config in apps.get_app_configs()} & set(OUR_APPS))
    for model in (model for label in labels for model in apps.get_app_config(label).get_models()):
        manager = model._default_manager
        rows = manager.for_org(organization) if is_org_guarded(model) else manager.all()
        state[model._meta.label] = list(rows.order_by("pk").values())
    return state


def test_every_path_of_a_write_operation_names_a_real_object(owner_client, path_ids):
    """The sweep below is only worth something if its paths lead somewhere: reading each object answers 200."""
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    checked = 0
    for path, operations in schema["paths"].items():
        if "{" in path and "get" in operations:
            response = owner_client.get(_fill(path, path_ids))
            assert response.status_code == 200, (path, response.status_code, response.content[:200])
            checked += 1
    assert checked >= 7


def test_every_write_operation_refuses_bad_bodies_cleanly_and_changes_nothing(owner_client, acme, path_ids):
    operations = [(path, method) for path, method, takes_body in _write_operations() if takes_body]
    assert len(operations) >= 8
    assert any("{" in path for path, _ in operations)  # operations on one object are swept too
    before = _snapshot(acme)
    for path, method in operations:
        url = _fill(path, path_ids)
        for body, content_type in BAD_BODIES:
            data = body if isinstance(body, bytes) else body.encode()
            response = owner_client.generic(method.upper(), url, data, content_type=content_type)
            case = (method, path, data[:40], response.status_code, response.content[:200])
            assert 400 <= response.status_code < 500 and response.status_code != 404, case
            error = response.json()["error"]
            assert set(error) == {"code", "message", "details"} and error["code"] and error["message"], case
            assert _snapshot(acme) == before, case


def test_operations_that_take_no_body_ignore_a_bad_one_without_failing(owner_client, path_ids):
    """Actions documented without a body (end a session, rotate a secret, send a test, redeliver, a WebSocket
    ticket) never read one: a bad body must still not crash them or hide the object behind a 404."""
    operations = [(path, method) for path, method, takes_body in _write_operations() if not takes_body]
    assert {path for path, _ in operations} >= {"/api/v1/sessions/{session_id}/end", "/api/v1/ws-ticket"}
    for path, method in operations:
        url = _fill(path, path_ids)
        for body, content_type in BAD_BODIES:
            data = body if isinstance(body, bytes) else body.encode()
            response = owner_client.generic(method.upper(), url, data, content_type=content_type)
            case = (method, path, data[:40], response.status_code, response.content[:200])
            assert response.status_code < 500 and response.status_code != 404, case
            if response.status_code >= 400:  # e.g. 409: the session already ended on an earlier case
                assert set(response.json()["error"]) == {"code", "message", "details"}, case
