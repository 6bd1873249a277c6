"""Emitting domain events: ``events.emit(events.SessionEnded(organization=..., actor=..., ...))``.

The event types themselves are declared once, in :mod:`connect.event_types`, and re-exported here.

Recorders run inside the transaction of the change (the webhook outbox writes its rows there, so an event is
never lost and never sent for a change that rolled back). Handlers run after the commit (telling live connections,
push notifications, metering). Both are registered at start-up by the apps that need them, and both receive the
typed event, organization included.

A subscriber never breaks the change that emitted the event: each recorder runs in its own savepoint, so one that
raises rolls back its own writes alone (on PostgreSQL an error would otherwise abort the whole transaction), and is
logged; a handler that raises is logged and the others still run. A malformed event, on the other hand, is the
emitter's own bug and raises ``TypeError`` at the ``emit`` call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from .event_types import *  # noqa: F403  (the declarations are part of this module's API)
from .event_types import Event, check

logger = logging.getLogger(__name__)

Recorder = Callable[[Event], None]
Handler = Callable[[Event], None]
_recorders: list[Recorder] = []
_handlers: list[tuple[Handler, tuple[type[Event], ...]]] = []


def record_in_transaction(recorder: Recorder) -> Recorder:
    """Run ``recorder(event)`` inside the emitting transaction, in a savepoint of its own."""
    if recorder not in _recorders:
        _recorders.append(recorder)
    return recorder


def stop_recording(recorder: Recorder) -> None:
    if recorder in _recorders:
        _recorders.remove(recorder)


def subscribe(handler: Handler, *, to: type[Event] | tuple[type[Event], ...] = Event) -> Handler:
    """Call ``handler(event)`` after the emitting transaction commits, for events of the given classes only."""
    kinds = to if isinstance(to, tuple) else (to,)
    unsubscribe(handler)
    _handlers.append((handler, kinds))
    return handler


def unsubscribe(handler: Handler) -> None:
    _handlers[:] = [(h, kinds) for h, kinds in _handlers if h is not handler]


def emit(event: Event) -> None:
    """Record ``event`` now (in the caller's transaction) and hand it to handlers once that commits."""
    check(event)
    for recorder in list(_recorders):
        try:
            with transaction.atomic():
                recorder(event)
        except Exception:  # a subscriber's failure is its own: the change that emitted the event goes on
            logger.exception("event recorder %r failed for %s", recorder, event.type)

    def deliver() -> None:
        for handler, kinds in list(_handlers):
            if not isinstance(event, kinds):
                continue
            try:
                handler(event)
            except Exception:  # one failing integration must not break the others
                logger.exception("event handler %r failed for %s", handler, event.type)

    transaction.on_commit(deliver)
