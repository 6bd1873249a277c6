"""Meetings without an SFU: an empty mesh meeting ends after the timeout (so it stops counting against the plan),
and minutes are metered from the sockets; with LiveKit, only its webhooks meter (the socket never does)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from meetings import services
from meetings.models import Meeting, MeetingParticipant
from sessions.services import SYSTEM

from .factories import MeetingFactory, MeetingParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mesh(settings):
    settings.LIVEKIT_URL = ""
    settings.LIVEKIT_EMPTY_TIMEOUT_SECONDS = 300


def live_meeting(acme, **values) -> Meeting:
    started = timezone.now() - timedelta(hours=1)
    return MeetingFactory(organization=acme, status=Meeting.Status.LIVE, started_at=started, **values)


def test_an_empty_mesh_meeting_ends_after_the_timeout(mesh, acme):
    now = timezone.now()
    left_long_ago = live_meeting(acme)
    MeetingParticipantFactory(
        meeting=left_long_ago,
        state=MeetingParticipant.State.LEFT,
        joined_at=now - timedelta(minutes=50),
        left_at=now - timedelta(minutes=10),
    )
    left_just_now = live_meeting(acme)
    MeetingParticipantFactory(
        meeting=left_just_now,
        state=MeetingParticipant.State.LEFT,
        joined_at=now - timedelta(minutes=50),
        left_at=now - timedelta(minutes=1),
    )
    someone_inside = live_meeting(acme)
    MeetingParticipantFactory(
        meeting=someone_inside, state=MeetingParticipant.State.ADMITTED, joined_at=now - timedelta(minutes=50)
    )
    nobody_came = live_meeting(acme)

    assert services.end_empty_meetings(now) == 2
    statuses = {m.pk: m.status for m in Meeting.objects.for_org(acme)}
    assert statuses[left_long_ago.pk] == statuses[nobody_came.pk] == Meeting.Status.ENDED
    assert statuses[left_just_now.pk] == statuses[someone_inside.pk] == Meeting.Status.LIVE
    ended = AuditEntry.objects.for_org(acme).filter(action="meeting.ended")
    assert sorted(e.data["meeting_id"] for e in ended) == sorted([left_long_ago.public_id, nobody_came.public_id])
    assert all(e.data["by"] == "empty" for e in ended)
    assert services.end_empty_meetings(now) == 0  # running again changes nothing


def test_with_livekit_the_sweep_leaves_rooms_to_livekit(settings, acme):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "http://127.0.0.1:9", "k", "s" * 32
    meeting = live_meeting(acme)
    assert services.end_empty_meetings() == 0
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.LIVE


def test_a_mesh_stint_is_metered_from_the_socket(mesh, acme):
    meeting = live_meeting(acme)
    participant = MeetingParticipantFactory(meeting=meeting, state=MeetingParticipant.State.ADMITTED)
    entered = services.mesh_enter(participant, SYSTEM)
    assert entered.joined_at is not None
    MeetingParticipant.objects.for_org(acme).filter(pk=participant.pk).update(
        joined_at=entered.joined_at - timedelta(seconds=150)
    )
    services.mesh_leave(participant, entered.joined_at - timedelta(seconds=150))
    participant.refresh_from_db()
    assert participant.state == MeetingParticipant.State.LEFT and participant.minutes_counted == 3


def test_with_livekit_the_socket_does_not_meter(settings, acme):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "http://127.0.0.1:9", "k", "s" * 32
    meeting = live_meeting(acme)
    participant = MeetingParticipantFactory(meeting=meeting, state=MeetingParticipant.State.ADMITTED)
    entered = services.mesh_enter(participant, SYSTEM)
    assert entered.joined_at is None  # LiveKit's participant_joined webhook sets it
    services.mesh_leave(participant, None)
    participant.refresh_from_db()
    assert participant.state == MeetingParticipant.State.ADMITTED and participant.minutes_counted == 0


def test_meeting_chat_follows_the_organizations_chat_retention(mesh, acme):
    from audit.retention import retention_purge
    from meetings.models import MeetingMessage

    meeting = live_meeting(acme)
    participant = MeetingParticipantFactory(meeting=meeting, state=MeetingParticipant.State.ADMITTED)
    old = services.chat_post(participant, "from last year")
    services.chat_post(participant, "from today")
    MeetingMessage.objects.for_org(acme).filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    acme.chat_retention_days = 365
    acme.save(update_fields=["chat_retention_days"])
    assert retention_purge(organization=acme)["meeting_chat_lines"] == 1
    assert [m.text for m in services.chat_history(meeting)] == ["from today"]
    assert (
        AuditEntry.objects.for_org(acme).filter(action="retention.purged").latest("seq").data["meeting_chat_lines"] == 1
    )


def test_a_persons_meetings_and_recordings_are_in_their_export_and_erased_to_a_label(mesh, acme, bob):
    from orgs.privacy import user_erase, user_export
    from recordings.models import Recording
    from recordings.tests.factories import RecordingFactory
    from sessions.tests.factories import SupportSessionFactory

    meeting = live_meeting(acme, host=bob, host_label="Bob Agent")
    place = MeetingParticipantFactory(
        meeting=meeting, user=bob, display_name="Bob Agent", role=MeetingParticipant.Role.HOST
    )
    services.chat_post(place, "Let us start")
    recording = RecordingFactory(
        organization=acme,
        session=SupportSessionFactory(organization=acme, agent=bob, active=True),
        started_by=bob,
        started_by_label="Bob Agent",
    )
    export = user_export(user=bob)
    [mine] = export["meetings"]
    assert (mine["meeting"], mine["role"], mine["chat"][0]["text"]) == (meeting.public_id, "host", "Let us start")
    assert [r["id"] for r in export["recordings"]] == [recording.public_id]

    user_erase(user=bob, actor=bob)
    meeting.refresh_from_db()
    place = MeetingParticipant.objects.for_org(acme).get(pk=place.pk)
    assert "Bob" not in meeting.host_label and "Bob" not in place.display_name
    assert "Bob" not in services.chat_history(meeting)[0].sender_name  # the line stays with the meeting
    assert "Bob" not in Recording.objects.for_org(acme).get(pk=recording.pk).started_by_label
