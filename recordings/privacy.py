"""What recordings hold about a person (orgs.privacy): the recordings they made, described (never the file: it is the
organization's record of a session, and shows the customer's screen, not the agent). On erasure the recordings stay
with their sessions under the erased label."""

from __future__ import annotations

from typing import Any

from audit.services import ERASED_LABEL
from orgs.privacy import CROSSES_FOR_THE_PERSON, iso, org_ref

from .models import Recording


def export_recordings(user) -> list[dict[str, Any]]:
    made = (
        Recording.objects.unscoped(CROSSES_FOR_THE_PERSON)
        .filter(started_by=user)
        .select_related("organization", "session", "meeting")
        .order_by("created_at")
    )
    return [
        {
            "id": r.public_id,
            "organization": org_ref(r.organization),
            "session": r.session.public_id if r.session_id else None,
            "meeting": r.meeting.public_id if r.meeting_id else None,
            "status": r.status,
            "size_bytes": r.size_bytes,
            "created_at": iso(r.created_at),
            "completed_at": iso(r.completed_at),
            "purged_at": iso(r.purged_at),
        }
        for r in made
    ]


def pseudonymize(user) -> None:
    Recording.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(started_by=user).update(started_by_label=ERASED_LABEL)
