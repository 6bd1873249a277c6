"""Domain events that push to a person's phone (registered at start-up by the app config).

An event names people by public id; only a member of the event's own organization is notified, so an event of
one organization can never reach someone of another.
"""

from __future__ import annotations

from connect import events
from orgs.models import Membership, Organization, User

from . import services


def member(organization: Organization, user_public_id: str | None) -> User | None:
    if not user_public_id:
        return None
    membership = (
        Membership.objects.for_org(organization).select_related("user").filter(user__public_id=user_public_id).first()
    )
    return membership.user if membership else None


def session_opened_for_agent(event: events.SessionCreated) -> None:
    """A session opened for an agent by someone else (an integration, a colleague): the agent's phone rings."""
    if event.actor.kind == "user" and event.actor.id == event.agent_id:
        return  # they opened it themselves
    agent = member(event.organization, event.agent_id)
    if agent is not None:
        services.notify_session_request(user=agent, organization=event.organization, session_id=event.id)


def customer_waiting(event: events.SessionConsentRequested) -> None:
    """The customer entered the code: the session's agent is told, even from a phone in a pocket."""
    agent = member(event.organization, event.agent_id)
    if agent is not None:
        services.notify_customer_waiting(user=agent, organization=event.organization, session_id=event.id)


def session_handed_over(event: events.SessionTransferred) -> None:
    agent = member(event.organization, event.to_agent_id)
    if agent is not None:
        services.notify_transfer(user=agent, organization=event.organization, session_id=event.id)


def register() -> None:
    events.subscribe(session_opened_for_agent, to=events.SessionCreated)
    events.subscribe(customer_waiting, to=events.SessionConsentRequested)
    events.subscribe(session_handed_over, to=events.SessionTransferred)
