"""Building the session events declared in :mod:`connect.event_types` from a session and who changed it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connect import events
from connect.events import (  # noqa: F401  (re-exported for the session services)
    SessionConsentRequested,
    SessionCreated,
    SessionDeclined,
    SessionEnded,
    SessionEvent,
    SessionExpired,
    SessionRated,
    SessionStarted,
    SessionTransferred,
    SessionUpdated,
    emit,
)

if TYPE_CHECKING:
    from .models import SupportSession
    from .services import Actor


def event_actor(actor: Actor) -> events.Actor:
    """The event's snapshot of a session actor (agent, customer, API credential or the system)."""
    return events.Actor.of(actor)


def session_fields(session: SupportSession) -> dict[str, Any]:
    """The payload of every session event, as of now."""
    return {
        "id": session.public_id,
        "agent_id": session.agent.public_id if session.agent_id else None,
        "status": session.status,
        "customer_name": session.customer_name,
        "created_at": session.created_at,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "end_reason": session.end_reason,
        "duration_seconds": session.duration_seconds,
        "agent_name": session.agent_name,
        "tags": list(session.tags or []),
        "ticket_ref": session.ticket_ref,
        "rating": session.rating,
        "rating_comment": session.rating_comment,
        "notes_count": _notes_count(session),
    }


def _notes_count(session: SupportSession) -> int:
    from .models import SessionNote

    if session.pk is None:
        return 0
    return SessionNote.objects.for_org(session.organization).filter(session=session).count()


def session_event(event_class: type[SessionEvent], session: SupportSession, actor: Actor, **extra: Any) -> SessionEvent:
    """``extra``: the payload fields of ``event_class`` beyond the session's own (a transfer's from and to)."""
    return event_class(organization=session.organization, actor=event_actor(actor), **session_fields(session), **extra)
