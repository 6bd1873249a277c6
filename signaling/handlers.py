"""What the signaling app does when a session event commits: tell both ends of the session."""

from __future__ import annotations

from connect import events

from . import live


def tell_both_ends(event: events.SessionEvent) -> None:
    """Record the session's new status in the live store and push it to the agent's and the customer's sockets."""
    live.session_changed(event.id, event.status, event.end_reason)


def register() -> None:
    events.subscribe(tell_both_ends, to=events.SessionEvent)
