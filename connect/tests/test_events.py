"""Domain events: declared once, checked where they are emitted, never able to break the change that emits them."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from connect import event_types, events
from connect.errors import ApplicationError
from integrations.credentials.services import api_key_create, api_key_revoke
from integrations.models import APIKey, WebhookEvent
from integrations.webhooks import services as webhooks
from integrations.webhooks.catalogue import EVENT_TYPES
from orgs.models import Membership, Organization, Role
from orgs.services import invitation_accept, invitation_create, membership_change_role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(acme, receiver, monkeypatch):
    """Subscribed to every event type. Nothing is sent: these tests look at the outbox, not at delivery."""
    from integrations.webhooks.tasks import deliver_webhook

    monkeypatch.setattr(deliver_webhook, "delay", lambda delivery_id: None)
    return webhooks.endpoint_create(organization=acme, url=receiver.url)


def outbox(organization) -> list[WebhookEvent]:
    """The webhook events recorded for ``organization``, less the audit log's own (every change writes one)."""
    return list(WebhookEvent.objects.for_org(organization).exclude(type="audit.entry").order_by("id"))


@pytest.fixture
def extra_subscriber():
    """Register a recorder or handler for one test only."""
    added: list[tuple[str, object]] = []

    def add(kind: str, function):
        (events.record_in_transaction if kind == "recorder" else events.subscribe)(function)
        added.append((kind, function))
        return function

    yield add
    for kind, function in added:
        if kind == "recorder":
            events.stop_recording(function)
        else:
            events.unsubscribe(function)


def example(hint):
    """A value of the declared type, to build any declared event."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return example(next(arg for arg in typing.get_args(hint) if arg is not type(None)))
    if origin is list:
        return [example(typing.get_args(hint)[0])]
    if origin is dict:
        return {"key": "value"}
    if dataclasses.is_dataclass(hint):
        resolved = event_types.hints(hint)
        return hint(**{f.name: example(resolved[f.name]) for f in dataclasses.fields(hint)})
    return {str: "text", int: 7, datetime: timezone.now()}[hint]


def build(cls, organization, **overrides):
    resolved = event_types.hints(cls)
    fields = {f.name: example(resolved[f.name]) for f in event_types.payload_fields(cls)}
    actor = events.Actor(kind="user", id="usr_1", label="alice@acme.test")
    return cls(organization=organization, actor=actor, **(fields | overrides))


@pytest.mark.parametrize("name", sorted(event_types.DECLARED))
def test_every_declared_event_carries_its_organization_and_actor(acme, name):
    cls = event_types.DECLARED[name]
    event = build(cls, acme)
    event_types.check(event)
    assert event.type == name and str(cls.description)
    assert event.organization == acme
    data = json.loads(json.dumps(event.webhook_data()))  # what a receiver parses
    assert data["organization_id"] == acme.public_id
    assert data["actor"] == {"kind": "user", "id": "usr_1", "label": "alice@acme.test"}
    assert set(data) == {"organization_id", "actor"} | {f.name for f in event_types.payload_fields(cls)}


def test_a_malformed_event_fails_where_it_is_emitted(acme, endpoint):
    fields = {"user_id": "usr_1", "email": "a@acme.test", "role": "agent"}
    actor = events.Actor.system()
    with pytest.raises(TypeError):
        events.MemberAdded(organization=acme, actor=actor, **fields, surprise=1)  # an undeclared field
    with pytest.raises(TypeError):
        events.MemberAdded(organization=acme, actor=actor, user_id="usr_1", email="a@acme.test")  # a missing one
    with pytest.raises(TypeError, match="member.added.role must be string"):
        events.emit(events.MemberAdded(organization=acme, actor=actor, **(fields | {"role": 3})))
    with pytest.raises(TypeError, match="organization"):
        events.emit(events.MemberAdded(organization=None, actor=actor, **fields))

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Undeclared(events.Event):
        type = "member.added"

    with pytest.raises(TypeError, match="not a declared event type"):
        events.emit(Undeclared(organization=acme, actor=actor))
    assert outbox(acme) == []


@pytest.fixture
def unlisted_type():
    """An event type declared after the webhook catalogue was computed, so the catalogue does not know it."""

    @event_types.declare("test.unlisted", "Declared for this test only.")
    class Unlisted(events.Event):
        note: str = event_types.described("anything")

    yield Unlisted
    del event_types.DECLARED["test.unlisted"]


@pytest.mark.django_db(transaction=True)
def test_a_type_missing_from_the_catalogue_records_nothing_and_the_change_commits(acme, endpoint, unlisted_type):
    assert "test.unlisted" not in EVENT_TYPES
    with transaction.atomic():
        Organization.objects.create(name="Initech", slug="initech")
        events.emit(unlisted_type(organization=acme, actor=events.Actor.system(), note="hello"))
        events.emit(build(events.SessionExpired, acme))  # declared, but in-process only
    assert Organization.objects.filter(slug="initech").exists()
    assert outbox(acme) == []


@pytest.mark.django_db(transaction=True)
def test_a_raising_recorder_or_handler_does_not_fail_the_emitter(acme, alice, endpoint, extra_subscriber):
    seen = []

    def clashing_recorder(event):
        Organization.objects.create(name="Half-written", slug="half-written")
        Organization.objects.create(name="Clash", slug=acme.slug)  # IntegrityError: PostgreSQL aborts the savepoint

    def raising_handler(event):
        raise RuntimeError("a broken integration")

    extra_subscriber("recorder", clashing_recorder)
    extra_subscriber("handler", raising_handler)
    extra_subscriber("handler", seen.append)

    key, _secret = api_key_create(org=org_context_for_user(alice, "acme"), name="crm", scopes=["sessions:read"])

    assert APIKey.objects.for_org(acme).filter(public_id=key.public_id).exists()  # the change committed
    assert not Organization.objects.filter(slug="half-written").exists()  # the recorder's own writes rolled back
    assert [e.type for e in outbox(acme)] == ["api_key.created"]  # the outbox still recorded
    assert [e.type for e in seen if e.type != "audit.entry"] == [
        "api_key.created"
    ]  # the handler after the broken one still ran


def test_the_webhook_catalogue_is_the_declarations():
    declared = {name for name, cls in event_types.DECLARED.items() if cls.webhook}
    assert set(EVENT_TYPES) == declared
    assert {"audit.entry", "member.role_changed", "session.ended", "api_key.created"} <= declared
    assert "session.expired" not in EVENT_TYPES  # in-process only


def test_endpoints_subscribe_to_declared_webhook_types_only(acme, receiver):
    created = webhooks.endpoint_create(organization=acme, url=receiver.url, event_types=["audit.entry"])
    assert created.event_types == ["audit.entry"]
    with pytest.raises(ApplicationError) as refused:
        webhooks.endpoint_create(organization=acme, url=receiver.url, event_types=["session.expired"])
    assert refused.value.code == "invalid_event_types"
    assert "member.role_changed" in refused.value.details["choices"]


def test_the_webhooks_doc_is_generated_from_the_declarations():
    from connect.management.commands.events_doc import updated

    doc = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
    text = doc.read_text()
    assert updated(text) == text, "docs/webhooks.md is out of date: run `python manage.py events_doc --write`"
    assert "| `member.role_changed` |" in text and "| `previous_role` | string |" in text


def test_member_and_api_key_webhooks_carry_the_organization(acme, alice, endpoint):
    newcomer = UserFactory(email="dana@acme.test")
    _invitation, token = invitation_create(organization=acme, inviter=alice, email=newcomer.email, role=Role.AGENT)
    membership = invitation_accept(token=token, user=newcomer)
    key, _secret = api_key_create(org=org_context_for_user(alice, "acme"), name="crm", scopes=["sessions:read"])
    membership_change_role(membership=membership, actor=alice, role=Role.MEMBER)
    api_key_revoke(key=key, by=org_context_for_user(alice, "acme"))

    recorded = {e.type: e.data for e in outbox(acme)}
    assert set(recorded) == {"member.added", "api_key.created", "member.role_changed", "api_key.revoked"}
    for data in recorded.values():
        assert data["organization_id"] == acme.public_id
    newcomer_label = f"{newcomer.name} <{newcomer.email}>"
    assert recorded["member.added"]["actor"] == {"kind": "user", "id": newcomer.public_id, "label": newcomer_label}
    assert recorded["member.added"]["email"] == "dana@acme.test"
    assert recorded["api_key.created"]["actor"]["id"] == alice.public_id
    assert recorded["api_key.created"]["scopes"] == ["sessions:read"]
    assert recorded["member.role_changed"] == {
        "organization_id": acme.public_id,
        "actor": {"kind": "user", "id": alice.public_id, "label": f"{alice.name} <{alice.email}>"},
        "user_id": newcomer.public_id,
        "email": "dana@acme.test",
        "role": "member",
        "previous_role": "agent",
    }
    assert recorded["api_key.revoked"]["actor"]["id"] == alice.public_id
    assert Membership.objects.for_org(acme).filter(user=newcomer, role=Role.MEMBER).exists()


def test_every_session_change_reaches_the_live_store(acme, bob, django_capture_on_commit_callbacks):
    """The signaling app hears session events; the changes without a webhook event are told too."""
    from sessions import services
    from signaling import live

    org = org_context_for_user(bob, "acme")
    with django_capture_on_commit_callbacks(execute=True):
        session = services.session_start(org=org, actor=services.Actor(kind="agent", user=bob))
    assert async_to_sync(live.status)(session.public_id) == "waiting"
    with django_capture_on_commit_callbacks(execute=True):
        services.session_join(code=session.code, actor=services.Actor(kind="customer"))
    assert async_to_sync(live.status)(session.public_id) == "consent_requested"

    with django_capture_on_commit_callbacks(execute=True):
        unused = services.session_start(org=org, actor=services.Actor(kind="agent", user=bob))
    with django_capture_on_commit_callbacks(execute=True):
        services.session_expire(session=unused)
    assert async_to_sync(live.status)(unused.public_id) == "expired"
