"""Who is notified of what: domain events, preferences and quiet hours, the organization boundary, and the outbox
when no provider is configured (the embedded product)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from connect import events
from integrations.tests.factories import APIKeyFactory
from orgs import devices
from orgs.tenancy import org_context_for_user
from push import services
from push.models import PushMessage, PushPreference
from sessions import services as session_services
from sessions import workflow

from .factories import PushMessageFactory, PushPreferenceFactory, PushRegistrationFactory

pytestmark = pytest.mark.django_db


def start_and_join(agent, run, *, slug="acme", actor=None):
    org = org_context_for_user(agent, slug)
    with run(execute=True):
        session = session_services.session_start(
            org=org, actor=actor or session_services.Actor(kind="agent", user=agent)
        )
    with run(execute=True):
        session, _ = session_services.session_join(code=session.code, actor=session_services.Actor(kind="customer"))
    return session


def test_without_a_provider_messages_are_recorded_and_dropped_as_not_configured(
    bob, django_capture_on_commit_callbacks
):
    PushRegistrationFactory(device__user=bob)
    PushRegistrationFactory(device__user=bob, ios=True)
    session = start_and_join(bob, django_capture_on_commit_callbacks)
    rows = PushMessage.objects.all()
    assert len(rows) == 2
    assert {(m.kind, m.status, m.last_error) for m in rows} == {("customer_waiting", "dropped", "not configured")}
    assert {m.collapse_key for m in rows} == {f"session:{session.public_id}"}


def test_an_agent_opening_their_own_session_is_not_pushed_but_one_opened_for_them_is(
    acme, bob, django_capture_on_commit_callbacks
):
    PushRegistrationFactory(device__user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        session_services.session_start(
            org=org_context_for_user(bob, "acme"), actor=session_services.Actor(kind="agent", user=bob)
        )
    assert not PushMessage.objects.exists()
    event = events.SessionCreated(
        organization=acme,
        actor=events.Actor.of(APIKeyFactory(organization=acme)),
        **{**_session_fields(bob), "id": "ses_fromhelpdesk"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        events.emit(event)
    [message] = PushMessage.objects.all()
    assert message.kind == "session_request" and message.priority == "high"
    assert message.payload["title"] == "Incoming support session" and message.payload["body"] == "Acme Inc"
    assert message.payload["data"]["session_id"] == "ses_fromhelpdesk"


def _session_fields(agent) -> dict:
    return {
        "id": "ses_x",
        "agent_id": agent.public_id,
        "status": "waiting",
        "customer_name": "Carla Customer",
        "created_at": timezone.now(),
        "started_at": None,
        "ended_at": None,
        "end_reason": "",
        "duration_seconds": None,
        "agent_name": "Bob",
        "tags": [],
        "ticket_ref": "",
        "rating": None,
        "rating_comment": "",
        "notes_count": 0,
    }


def test_another_organizations_events_never_notify(acme, globex, bob, gina, django_capture_on_commit_callbacks):
    PushRegistrationFactory(device__user=gina)
    start_and_join(bob, django_capture_on_commit_callbacks)  # Acme's customer, for bob (who has no phone)
    assert not PushMessage.objects.exists()
    # An Acme event that names gina (of Globex) reaches nobody: she is not a member of Acme.
    for event_class in (events.SessionConsentRequested, events.SessionCreated):
        with django_capture_on_commit_callbacks(execute=True):
            events.emit(
                event_class(
                    organization=acme,
                    actor=events.Actor.system(),
                    **{**_session_fields(gina), "status": "consent_requested"},
                )
            )
    assert not PushMessage.objects.exists()
    # Her own organization's customers do reach her.
    start_and_join(gina, django_capture_on_commit_callbacks, slug="globex")
    [message] = PushMessage.objects.all()
    assert message.registration.device.user == gina and message.payload["body"] == "Globex"


def test_a_transfer_notifies_the_new_agent_only(acme, bob, carol, django_capture_on_commit_callbacks):
    PushRegistrationFactory(device__user=bob)
    carols = PushRegistrationFactory(device__user=carol)
    session = start_and_join(bob, django_capture_on_commit_callbacks)
    PushMessage.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.session_transfer(
            org=org_context_for_user(bob, "acme"),
            session=session,
            to_agent_id=carol.public_id,
            actor=session_services.Actor(kind="agent", user=bob),
        )
    [message] = PushMessage.objects.all()
    assert message.registration == carols and message.kind == "transfer" and message.priority == "normal"


def test_a_kind_turned_off_is_not_pushed(acme, bob):
    PushRegistrationFactory(device__user=bob)
    PushPreferenceFactory(user=bob, customer_waiting=False)
    assert services.notify_customer_waiting(user=bob, organization=acme, session_id="ses_1") == []
    assert len(services.notify_transfer(user=bob, organization=acme, session_id="ses_1")) == 1


@pytest.mark.parametrize(
    ("local", "quiet"),
    [(time(23, 30), True), (time(2, 0), True), (time(6, 59), True), (time(7, 0), False), (time(12, 0), False)],
)
def test_quiet_hours_spanning_midnight_hold_back_normal_kinds_only(acme, bob, local, quiet):
    PushRegistrationFactory(device__user=bob)
    PushPreferenceFactory(
        user=bob, quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0), timezone="America/New_York"
    )
    # A winter day in New York: UTC-5.
    now = datetime(2026, 1, 15, local.hour, local.minute, tzinfo=UTC) + timedelta(hours=5)
    transfer = services.notify(user=bob, kind="transfer", organization=acme, data={"session_id": "ses_1"}, now=now)
    meeting = services.notify(user=bob, kind="meeting_invitation", organization=acme, data={"meeting_id": "m"}, now=now)
    waiting = services.notify(
        user=bob, kind="customer_waiting", organization=acme, data={"session_id": "ses_1"}, now=now
    )
    assert (len(transfer), len(meeting)) == ((0, 0) if quiet else (1, 1))
    assert len(waiting) == 1  # a customer waiting is high priority: it rings whatever the hour


def test_quiet_hours_within_one_day(bob):
    preference = PushPreference(user=bob, quiet_hours_start=time(12, 0), quiet_hours_end=time(14, 0))
    assert services.in_quiet_hours(preference, datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    assert not services.in_quiet_hours(preference, datetime(2026, 1, 15, 14, 0, tzinfo=UTC))
    assert not services.in_quiet_hours(PushPreference(user=bob), datetime(2026, 1, 15, 13, 0, tzinfo=UTC))


def test_a_signed_out_or_unregistered_installation_gets_nothing(acme, bob):
    signed_out = PushRegistrationFactory(device__user=bob)
    devices.device_revoke(device=signed_out.device)
    services.registration_disable(registration=PushRegistrationFactory(device__user=bob), reason="unregistered")
    assert services.notify_customer_waiting(user=bob, organization=acme, session_id="ses_1") == []


def test_of_two_workers_only_one_claims_and_a_sent_message_is_never_claimed_again():
    message = PushMessageFactory()
    now = timezone.now()
    assert services.claim(message.pk, now) is not None
    assert services.claim(message.pk, now) is None  # the other worker
    later = now + timedelta(seconds=services.claim_seconds() + 1)
    delivered = services.deliver(message.pk, now=later)  # the first worker died: its claim ran out, taken over
    assert delivered.status == "dropped" and delivered.attempts == 2  # (no provider configured here)
    message.status = PushMessage.Status.SENT
    message.save()
    assert services.claim(message.pk, now + timedelta(days=1)) is None


def test_the_sweep_gives_up_on_a_last_attempt_whose_worker_died_and_forgets_old_messages():
    now = timezone.now()
    abandoned = PushMessageFactory(
        status=PushMessage.Status.SENDING, attempts=services.MAX_ATTEMPTS, claimed_until=now - timedelta(seconds=1)
    )
    stale = PushMessageFactory(status=PushMessage.Status.SENDING, attempts=1, claimed_until=now - timedelta(seconds=1))
    old = PushMessageFactory(status=PushMessage.Status.SENT)
    PushMessage.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=8))
    assert services.sweep(now) == [stale.pk]
    abandoned.refresh_from_db()
    assert abandoned.status == "failed"
    assert not PushMessage.objects.filter(pk=old.pk).exists()


def test_an_expired_message_is_dropped_not_sent(acme, bob):
    PushRegistrationFactory(device__user=bob)
    [message] = services.notify_customer_waiting(user=bob, organization=acme, session_id="ses_1")
    delivered = services.deliver(message.pk, now=timezone.now() + timedelta(minutes=11))
    assert delivered.status == "dropped" and "expired" in delivered.last_error
