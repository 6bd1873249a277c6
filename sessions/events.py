"""Session events for integrations (webhooks, metering, push). One function emits them, after commit.

Later issues register handlers with :func:`subscribe`; a handler receives ``(event_type, payload)`` and runs only
if the transaction that caused the event commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

SESSION_CREATED = "session.created"
SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
SESSION_DECLINED = "session.declined"

Handler = Callable[[str, dict[str, Any]], None]
_handlers: list[Handler] = []


def subscribe(handler: Handler) -> Handler:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unsubscribe(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def emit(event_type: str, payload: dict[str, Any]) -> None:
    """Deliver ``event_type`` to every handler once the current transaction commits."""

    def deliver() -> None:
        for handler in list(_handlers):
            try:
                handler(event_type, payload)
            except Exception:  # one failing integration must not break the others or the session
                logger.exception("event handler %r failed for %s", handler, event_type)

    transaction.on_commit(deliver)


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
