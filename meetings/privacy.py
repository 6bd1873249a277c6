"""What meetings hold about a person (orgs.privacy): the meetings they hosted or joined, and their chat lines.

On erasure the meetings stay with their organization (its record of who met), under the erased label: the host's and
the participant's name snapshots and the chat lines' sender. The foreign keys to the person go with their row."""

from __future__ import annotations

from typing import Any

from audit.services import ERASED_LABEL
from orgs.privacy import CROSSES_FOR_THE_PERSON, iso, org_ref

from .models import Meeting, MeetingMessage, MeetingParticipant


def export_meetings(user) -> list[dict[str, Any]]:
    places = (
        MeetingParticipant.objects.unscoped(CROSSES_FOR_THE_PERSON)
        .filter(user=user)
        .select_related("meeting", "organization")
        .order_by("created_at")
    )
    lines: dict[int, list[dict[str, Any]]] = {}
    for line in (
        MeetingMessage.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(participant__user=user).order_by("created_at")
    ):
        lines.setdefault(line.participant_id, []).append({"created_at": iso(line.created_at), "text": line.text})
    return [
        {
            "meeting": place.meeting.public_id,
            "organization": org_ref(place.organization),
            "title": place.meeting.title,
            "role": place.role,
            "name": place.display_name,
            "joined_at": iso(place.joined_at),
            "left_at": iso(place.left_at),
            "minutes": place.minutes_counted,
            "chat": lines.get(place.pk, []),
        }
        for place in places
    ]


def pseudonymize(user) -> None:
    """Before the person's row is deleted: their names in meetings become the erased label."""
    places = MeetingParticipant.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(user=user)
    MeetingMessage.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(participant__in=places).update(
        sender_name=ERASED_LABEL
    )
    places.update(display_name=ERASED_LABEL)
    Meeting.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(host=user).update(host_label=ERASED_LABEL)
