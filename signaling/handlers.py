"""What the signaling app does when a session event commits: tell both ends of the session."""

from __future__ import annotations

from connect import events

from . import live

# Events that change no status and that the sockets need not hear of (a transfer has its own message).
_NOT_A_STATE_CHANGE = (events.SessionUpdated, events.SessionRated, events.SessionTransferred)


def tell_both_ends(event: events.SessionEvent) -> None:
    """Record the session's new status in the live store and push it to the agent's and the customer's sockets."""
    if isinstance(event, _NOT_A_STATE_CHANGE):
        return
    live.session_changed(event.id, event.status, event.end_reason)


def tell_of_transfer(event: events.SessionTransferred) -> None:
    """The customer's page shows the new agent's name; the previous agent's viewer is told and closed."""
    live.session_transferred(
        event.id,
        from_agent_id=event.from_agent_id or "",
        to_agent_id=event.to_agent_id,
        to_agent_name=event.to_agent_name,
    )


def hint_the_organization(event: events.SessionEvent) -> None:
    """The organization's live pages refetch what changed (signaling.org_live): a hint naming the session, for the
    agents it concerns (its agent, and the previous one after a transfer) and whoever sees every session."""
    agents = [event.agent_id, getattr(event, "from_agent_id", None)]
    live.org_hint_sync(
        event.organization.pk,
        {"type": "sessions.changed", "session": event.id},
        agents=[agent for agent in agents if agent],
    )


def register() -> None:
    events.subscribe(hint_the_organization, to=events.SessionEvent)
    events.subscribe(tell_both_ends, to=events.SessionEvent)
    events.subscribe(tell_of_transfer, to=events.SessionTransferred)
