"""A meeting as an iCalendar invitation (RFC 5545, with iTIP's METHOD of RFC 5546), built with ``icalendar``.

The UID is the meeting's public id at the product's host, so every copy (the invitation e-mails, a member's own
download, a later cancellation) names the same event and calendars update it rather than add another. The library
escapes text (commas, semicolons, new lines in a title) and folds long lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from .models import Meeting

PRODID = "-//BizGaze Connect//Meetings//EN"
# A meeting without a scheduled end (an instant one, or a start alone) is put in calendars as this long.
DEFAULT_LENGTH = timedelta(hours=1)


def event_uid(meeting: Meeting) -> str:
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"{meeting.public_id}@{host}"


def event_times(meeting: Meeting) -> tuple[datetime, datetime]:
    """Start and end in UTC: the schedule, or (an instant meeting) from now, an hour unless an end was set."""
    start = meeting.scheduled_start or timezone.now()
    end = meeting.scheduled_end or start + DEFAULT_LENGTH
    return start.astimezone(UTC), end.astimezone(UTC)


def _organizer(meeting: Meeting) -> vCalAddress:
    # A meeting created by an organization's credential (or whose host was erased) has no host address: the
    # product's sender address organizes it, named by the host snapshot or the organization.
    if meeting.host_id and meeting.host.email:
        address, name = meeting.host.email, meeting.host.name or meeting.host.email
    else:
        address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "no-reply@localhost"
        name = meeting.host_label or meeting.organization.name
    organizer = vCalAddress(f"mailto:{address}")
    organizer.params["CN"] = vText(name)
    return organizer


def _attendee(email: str) -> vCalAddress:
    attendee = vCalAddress(f"mailto:{email}")
    attendee.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    return attendee


def _calendar(
    meeting: Meeting, *, join_url: str, method: str, status: str, attendees: Sequence[str], sequence: int
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)

    start, end = event_times(meeting)
    event = Event()
    event.add("uid", event_uid(meeting))
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", meeting.title)
    event.add("description", f"{meeting.title}\n\nJoin the meeting: {join_url}")
    event.add("url", join_url)
    event.add("organizer", _organizer(meeting))
    for email in attendees:
        event.add("attendee", _attendee(email))
    event.add("sequence", sequence)
    event.add("status", status)
    calendar.add_component(event)
    return calendar.to_ical()


def invitation_ics(
    meeting: Meeting,
    *,
    join_url: str,
    method: str = "REQUEST",
    attendees: Sequence[str] = (),
    sequence: int = 0,
) -> bytes:
    """The meeting as a confirmed event: ``REQUEST`` for invitees (who may answer), ``PUBLISH`` for a calendar."""
    return _calendar(
        meeting, join_url=join_url, method=method, status="CONFIRMED", attendees=attendees, sequence=sequence
    )


def invitation_cancel_ics(
    meeting: Meeting, *, join_url: str, attendees: Sequence[str] = (), sequence: int = 1
) -> bytes:
    """The cancellation of an invitation sent before: same UID, a higher SEQUENCE than the one it cancels."""
    return _calendar(
        meeting, join_url=join_url, method="CANCEL", status="CANCELLED", attendees=attendees, sequence=sequence
    )
