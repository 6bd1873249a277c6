"""The plan's maximum session length: the beat task ends sessions past it, in every organization, and only those."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import License, Plan
from sessions import services
from sessions.models import EndReason, Status, SupportSession
from sessions.tasks import end_over_time
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db


def _active(org, agent, minutes_ago: int) -> SupportSession:
    return SupportSessionFactory(
        organization=org, agent=agent, status=Status.ACTIVE, started_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_sessions_past_the_plans_length_end_and_others_go_on(acme, globex, alice, gina):
    billing.license_change(
        organization=acme, plan=Plan.objects.get(code="free"), status=License.Status.ACTIVE, keep_members=True
    )  # 40 minutes
    over = _active(acme, alice, 41)
    under = _active(acme, alice, 39)
    elsewhere = _active(globex, gina, 41)  # Business trial: 12 hours
    assert end_over_time() == 1
    over.refresh_from_db(), under.refresh_from_db(), elsewhere.refresh_from_db()
    assert (over.status, over.end_reason) == (Status.ENDED, EndReason.TIME_LIMIT)
    assert under.status == Status.ACTIVE and elsewhere.status == Status.ACTIVE
    assert over.events.filter(type="ended").exists()
    assert end_over_time() == 0  # run again: nothing more


def test_the_viewer_says_when_the_plan_ends_the_session(client, acme, alice):
    session = _active(acme, alice, 10)
    client.force_login(alice)
    body = client.get(reverse("session_viewer", args=[acme.slug, session.public_id])).content.decode()
    assert "Your plan ends a session 720 minutes after sharing starts." in body
    ends = services.session_time_limit_ends_at(session)
    assert f"This one ends at {ends:%H:%M} UTC." in body


def test_the_last_five_minutes_are_announced_once_per_session(acme, alice):
    billing.license_change(
        organization=acme, plan=Plan.objects.get(code="free"), status=License.Status.ACTIVE, keep_members=True
    )  # 40 minutes
    near = _active(acme, alice, 37)
    _active(acme, alice, 20)  # not yet
    told: list[tuple[str, str]] = []
    services.sessions_end_over_time(warn=lambda session_id, ends_at: told.append((session_id, ends_at)))
    services.sessions_end_over_time(warn=lambda session_id, ends_at: told.append((session_id, ends_at)))
    assert told == [(near.public_id, services.session_time_limit_ends_at(near).isoformat())]
    near.refresh_from_db()
    assert near.status == Status.ACTIVE  # warned, not ended
