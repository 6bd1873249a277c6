"""Meeting invitations: the .ics (read back with icalendar), the e-mails to guests, and who may send or fetch them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from audit.models import AuditEntry
from meetings.ics import PRODID, invitation_cancel_ics, invitation_ics
from meetings.invitations import guest_join_url, member_meeting_url
from meetings.models import Meeting

from .conftest import client_for
from .factories import MeetingFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def create(user, **values) -> dict:
    response = client_for(user).post("/api/v1/meetings", {"title": "Weekly", **values}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def scheduled(user, **values) -> dict:
    return create(
        user,
        scheduled_start=START.isoformat(),
        scheduled_end=(START + timedelta(minutes=45)).isoformat(),
        **values,
    )


def meeting_row(public_id: str) -> Meeting:
    return Meeting.objects.unscoped("test").select_related("host", "organization").get(public_id=public_id)


def event_of(ics: bytes):
    calendar = Calendar.from_ical(ics)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def attendees_of(event) -> list:
    found = event.get("attendee", [])
    return found if isinstance(found, list) else [found]  # icalendar gives one property alone, several as a list


def invite(user, meeting_id: str, emails: list[str], secret: str):
    return client_for(user).post(
        f"/api/v1/meetings/{meeting_id}/invitations", {"emails": emails, "invite": secret}, format="json"
    )


def error(response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def invited_entries(org):
    return AuditEntry.objects.for_org(org).filter(action="meeting.invited")


def test_the_ics_names_the_meeting_its_times_organizer_and_attendees(alice, settings):
    settings.SITE_URL = "https://connect.example.com"
    alice.name = "Alice Liddell"
    alice.save()
    meeting = meeting_row(scheduled(alice, title="Quarterly review")["id"])
    link = "https://connect.example.com/m/join#mti_secret"

    calendar, event = event_of(
        invitation_ics(meeting, join_url=link, attendees=["dave@example.org", "erin@example.org"], sequence=2)
    )
    assert str(calendar["prodid"]) == PRODID == "-//BizGaze Connect//Meetings//EN"
    assert str(calendar["version"]) == "2.0" and str(calendar["method"]) == "REQUEST"
    assert str(event["uid"]) == f"{meeting.public_id}@connect.example.com"
    assert event.decoded("dtstart") == START and event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == START + timedelta(minutes=45)
    assert event.decoded("dtstamp") <= timezone.now()
    assert str(event["summary"]) == "Quarterly review"
    assert str(event["url"]) == link and link in str(event["description"])
    assert str(event["organizer"]) == "mailto:alice@acme.test"
    assert event["organizer"].params["CN"] == "Alice Liddell"
    attendees = attendees_of(event)
    assert [str(a) for a in attendees] == ["mailto:dave@example.org", "mailto:erin@example.org"]
    for attendee in attendees:
        assert dict(attendee.params) == {"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}
    assert event["sequence"] == 2 and str(event["status"]) == "CONFIRMED"


def test_an_instant_meeting_is_in_calendars_from_now_for_an_hour(alice):
    meeting = meeting_row(create(alice)["id"])
    before = timezone.now().replace(microsecond=0)
    _, event = event_of(invitation_ics(meeting, join_url="https://x.test/m/join#s"))
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert before <= start <= timezone.now() and start.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=1)
    assert "attendee" not in event


def test_a_title_with_commas_semicolons_and_new_lines_round_trips(acme, alice):
    title = "Plan, budget; risks\nsecond line, too; done"
    meeting = MeetingFactory(organization=acme, host=alice, title=title)
    ics = invitation_ics(meeting, join_url="https://x.test/m/join#s")
    assert b"Plan\\, budget\\; risks\\nsecond line" in ics  # escaped by the library, not cut at the comma
    _, event = event_of(ics)
    assert str(event["summary"]) == title


def test_a_cancellation_is_the_same_event_cancelled(acme, alice):
    meeting = MeetingFactory(organization=acme, host=alice)
    _, sent = event_of(invitation_ics(meeting, join_url="https://x.test/m/join#s"))
    calendar, cancelled = event_of(
        invitation_cancel_ics(meeting, join_url="https://x.test/m/join#s", attendees=["dave@example.org"])
    )
    assert str(calendar["method"]) == "CANCEL" and str(cancelled["status"]) == "CANCELLED"
    assert str(cancelled["uid"]) == str(sent["uid"]) and cancelled["sequence"] > sent["sequence"]


def test_guests_are_emailed_the_guest_link_and_the_ics(acme, alice, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://connect.example.com"
    meeting = scheduled(alice, title="Kick-off, part 1")
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(
            alice, meeting["id"], ["Dave@Example.org", "erin@example.org", "dave@example.ORG"], meeting["invite"]
        )
    assert response.status_code == 202, response.content
    assert response.json() == {"sent": 2, "emails": ["dave@example.org", "erin@example.org"]}

    link = guest_join_url(meeting["invite"])
    assert link == f"https://connect.example.com/m/join#{meeting['invite']}"
    assert sorted(message.to[0] for message in mail.outbox) == ["dave@example.org", "erin@example.org"]
    assert all(len(message.to) == 1 for message in mail.outbox)  # one e-mail each: invitees never see one another
    for message in mail.outbox:
        assert "Kick-off, part 1" in message.subject and link in message.body
        (part,) = [p for p in message.message().walk() if p.get_filename()]
        assert part.get_filename() == "invite.ics"
        assert part.get_content_type() == "text/calendar"
        assert part.get_param("method") == "REQUEST" and part.get_content_charset() == "utf-8"
        calendar, event = event_of(part.get_payload(decode=True))
        assert str(calendar["method"]) == "REQUEST" and str(event["url"]) == link
        assert [str(a) for a in attendees_of(event)] == [f"mailto:{message.to[0]}"]
        assert str(event["uid"]) == f"{meeting['id']}@connect.example.com"

    (entry,) = invited_entries(acme)
    assert entry.data == {"meeting_id": meeting["id"], "count": 2, "emails": ["dave@example.org", "erin@example.org"]}
    assert entry.actor_id == alice.public_id


def test_nothing_is_sent_before_the_request_commits(alice):
    meeting = create(alice)
    assert invite(alice, meeting["id"], ["dave@example.org"], meeting["invite"]).status_code == 202
    assert mail.outbox == []  # the test's transaction never commits


def test_a_wrong_invite_secret_is_refused_and_sends_nothing(acme, alice, django_capture_on_commit_callbacks):
    meeting = create(alice)
    other = create(alice)
    with django_capture_on_commit_callbacks(execute=True):
        for secret in ("mti_wrong", other["invite"], ""):
            response = invite(alice, meeting["id"], ["dave@example.org"], secret)
            assert response.status_code == 400, secret
            if secret:
                assert error(response)["code"] == "wrong_invite"
    assert mail.outbox == [] and not invited_entries(acme).exists()


def test_only_the_host_may_send_invitations_and_any_member_gets_the_ics(
    acme, alice, bob, carol, django_capture_on_commit_callbacks
):
    meeting = scheduled(alice)
    with django_capture_on_commit_callbacks(execute=True):
        refused = invite(bob, meeting["id"], ["dave@example.org"], meeting["invite"])  # a member, not the host
        assert refused.status_code == 403 and error(refused)["code"] == "not_meeting_host"
        anonymous = invite(None, meeting["id"], ["dave@example.org"], meeting["invite"])
        assert anonymous.status_code in (401, 403)
        error(anonymous)
    assert mail.outbox == [] and not invited_entries(acme).exists()

    response = client_for(bob).get(f"/api/v1/meetings/{meeting['id']}/invitation.ics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Content-Disposition"] == f'attachment; filename="{meeting["id"]}.ics"'
    calendar, event = event_of(response.content)
    assert str(calendar["method"]) == "PUBLISH"
    assert str(event["url"]) == member_meeting_url(meeting_row(meeting["id"]))
    assert str(event["url"]).endswith(f"/o/acme/meetings/{meeting['id']}/")
    assert meeting["invite"] not in response.content.decode()  # the members' copy never carries the guests' secret
    assert event.decoded("dtstart") == START and str(event["organizer"]) == "mailto:alice@acme.test"


def test_a_calendar_client_asking_for_text_calendar_gets_it_and_errors_stay_json(alice, gina):
    meeting = create(alice)
    url = f"/api/v1/meetings/{meeting['id']}/invitation.ics"
    answer = client_for(alice).get(url, HTTP_ACCEPT="text/calendar")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/calendar")
    missing = client_for(gina).get(url, HTTP_ACCEPT="text/calendar")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert error(missing)["code"] == "not_found"


def test_another_organizations_meeting_is_not_found_on_both_endpoints(acme, alice, gina):
    meeting = create(alice)
    other = client_for(gina)
    assert other.get(f"/api/v1/meetings/{meeting['id']}/invitation.ics").status_code == 404
    response = invite(gina, meeting["id"], ["dave@example.org"], meeting["invite"])
    assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert mail.outbox == [] and not invited_entries(acme).exists()


@pytest.mark.parametrize(
    "emails, code",
    [
        ([f"guest{n}@example.org" for n in range(51)], "too_many_invitees"),
        (["dave@example.org", "not an address"], "invalid_email"),
        (["dave@example.org", "dave@"], "invalid_email"),
        ([], "no_invitees"),
    ],
)
def test_bad_address_lists_are_refused_in_the_error_shape(
    acme, alice, emails, code, django_capture_on_commit_callbacks
):
    meeting = create(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(alice, meeting["id"], emails, meeting["invite"])
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["code"] == code and body["details"]["field"] == "emails"
    assert mail.outbox == [] and not invited_entries(acme).exists()


def test_fifty_addresses_and_duplicates_beyond_them_are_accepted(alice, django_capture_on_commit_callbacks):
    meeting = create(alice)
    emails = [f"guest{n}@example.org" for n in range(50)] + ["GUEST0@example.org"]
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(alice, meeting["id"], emails, meeting["invite"])
    assert response.status_code == 202 and response.json()["sent"] == 50
    assert len(mail.outbox) == 50


def test_an_ended_meeting_sends_no_invitations(acme, alice, django_capture_on_commit_callbacks):
    meeting = create(alice)
    assert client_for(alice).post(f"/api/v1/meetings/{meeting['id']}/end").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(alice, meeting["id"], ["dave@example.org"], meeting["invite"])
    assert response.status_code == 409 and error(response)["code"] == "meeting_ended"
    assert mail.outbox == [] and not invited_entries(acme).exists()
