"""The meetings pages: schedule or start a meeting, its page with the guest link (in the creating browser only), the
invitations e-mailed from it, the calendar file, the room (only for who joined), and another organization's meeting
(not found) or another agent of the same organization (no host controls)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from audit.models import AuditEntry
from meetings.models import Meeting

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mesh(settings):
    settings.LIVEKIT_URL = ""


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def schedule(client: Client, title: str = "Rollout review") -> Meeting:
    response = client.post(
        "/o/acme/meetings/",
        {"title": title, "scheduled_start": "2027-01-05T10:00", "duration_minutes": "45", "schedule": "1"},
    )
    assert response.status_code == 302, response.content
    return Meeting.objects.unscoped("test").get(title=title)


def test_a_scheduled_meeting_shows_its_guest_link_to_its_creator_and_e_mails_invitations(
    alice, acme, django_capture_on_commit_callbacks
):
    host = browser(alice)
    meeting = schedule(host)
    assert meeting.scheduled_end - meeting.scheduled_start == timedelta(minutes=45)
    page = host.get(f"/o/acme/meetings/{meeting.public_id}/").content.decode()
    assert "/m/join#mti_" in page and "Send invitations" in page
    other_browser = browser(alice).get(f"/o/acme/meetings/{meeting.public_id}/").content.decode()
    assert "/m/join#mti_" not in other_browser  # only its fingerprint is stored
    with django_capture_on_commit_callbacks(execute=True):
        sent = host.post(
            f"/o/acme/meetings/{meeting.public_id}/invite-email", {"emails": "carl@example.com;\nDora@Example.com"}
        )
    assert sent.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["carl@example.com", "dora@example.com"]
    assert all(m.attachments and m.attachments[0][0] == "invite.ics" for m in mail.outbox)
    assert "/m/join#mti_" in mail.outbox[0].body
    assert AuditEntry.objects.for_org(acme).filter(action="meeting.invited").count() == 1
    calendar = host.get(f"/o/acme/meetings/{meeting.public_id}/meeting.ics")
    assert calendar["Content-Type"].startswith("text/calendar") and b"Rollout review" in calendar.content


def test_another_agent_sees_the_meeting_but_may_not_invite_or_use_the_room_unjoined(
    alice, bob, django_capture_on_commit_callbacks
):
    meeting = schedule(browser(alice))
    agent = browser(bob)
    page = agent.get(f"/o/acme/meetings/{meeting.public_id}/").content.decode()
    assert "Join meeting" in page and "Guest link" not in page
    with django_capture_on_commit_callbacks(execute=True):
        refused = agent.post(f"/o/acme/meetings/{meeting.public_id}/invite-email", {"emails": "carl@example.com"})
    assert refused.status_code == 302 and not mail.outbox
    room = agent.get(f"/o/acme/meetings/{meeting.public_id}/room")
    assert room.status_code == 302 and room["Location"].endswith(f"/meetings/{meeting.public_id}/")
    assert agent.post(f"/o/acme/meetings/{meeting.public_id}/join").status_code == 302
    assert agent.get(f"/o/acme/meetings/{meeting.public_id}/room").status_code == 200


def test_another_organizations_meeting_is_not_found_on_every_page(alice, gina, django_capture_on_commit_callbacks):
    meeting = schedule(browser(alice))
    outsider = browser(gina)
    for path in ("/", "/room", "/meeting.ics"):
        assert outsider.get(f"/o/acme/meetings/{meeting.public_id}{path}").status_code == 404
        assert outsider.get(f"/o/globex/meetings/{meeting.public_id}{path}").status_code == 404
    assert outsider.post(f"/o/globex/meetings/{meeting.public_id}/join").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        invited = outsider.post(f"/o/globex/meetings/{meeting.public_id}/invite-email", {"emails": "x@example.com"})
    assert invited.status_code == 404
    assert not mail.outbox


def test_scheduling_without_a_time_is_refused_in_words(alice, acme):
    host = browser(alice)
    response = host.post("/o/acme/meetings/", {"title": "No time", "schedule": "1"}, follow=True)
    assert "Pick when the meeting starts" in response.content.decode()
    assert not Meeting.objects.for_org(acme).filter(title="No time").exists()
