"""Session event types and their payload; emitted through :func:`connect.events.emit`."""

from __future__ import annotations

from typing import Any

from connect import events

SESSION_CREATED = "session.created"
SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
SESSION_DECLINED = "session.declined"

emit = events.emit
subscribe = events.subscribe
unsubscribe = events.unsubscribe


def session_payload(session) -> dict[str, Any]:
    return {
        "id": session.public_id,
        "organization_id": session.organization.public_id,
        "agent_id": session.agent.public_id,
        "status": session.status,
        "customer_name": session.customer_name,
        "created_at": session.created_at.isoformat() if session.created_at else None,
        "started_at": session.started_at.isoformat() if session.started_at else None,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "end_reason": session.end_reason,
        "duration_seconds": session.duration_seconds,
    }
