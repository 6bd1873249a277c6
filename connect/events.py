"""Domain events (session.created, member.added, ...), emitted through one function.

Recorders run inside the transaction of the change (the webhook outbox writes its rows there, so an event is
never lost and never sent for a change that rolled back). Handlers run after the commit (push notifications,
metering). Both are registered at start-up by the apps that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Recorder = Callable[[Any, str, dict[str, Any]], None]
Handler = Callable[[str, dict[str, Any]], None]
_recorders: list[Recorder] = []
_handlers: list[Handler] = []


def record_in_transaction(recorder: Recorder) -> Recorder:
    if recorder not in _recorders:
        _recorders.append(recorder)
    return recorder


def subscribe(handler: Handler) -> Handler:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unsubscribe(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def emit(organization: Any, event_type: str, payload: dict[str, Any]) -> None:
    """Record ``event_type`` now (in the caller's transaction) and hand it to handlers once that commits."""
    for recorder in list(_recorders):
        recorder(organization, event_type, payload)

    def deliver() -> None:
        for handler in list(_handlers):
            try:
                handler(event_type, payload)
            except Exception:  # one failing integration must not break the others
                logger.exception("event handler %r failed for %s", handler, event_type)

    transaction.on_commit(deliver)
