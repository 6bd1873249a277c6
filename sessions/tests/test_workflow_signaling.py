"""A transfer while both ends are connected, through the real ASGI stack: the customer stays and sees the new name,
the previous agent's viewer is told and closed, the new agent connects."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from orgs.models import Role
from orgs.tests.factories import MembershipFactory
from sessions import workflow
from sessions.models import Status, SupportSession
from sessions.services import Actor
from signaling import consumers
from signaling.consumers import CLOSE_REFUSED
from signaling.tests.test_session_consumer import agent_socket, next_of, pair

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def transfer(session_id, by, to):
    from orgs.tenancy import org_context_for_user

    org = org_context_for_user(by, "acme")
    session = SupportSession.objects.for_org(org.organization).get(public_id=session_id)
    return workflow.session_transfer(
        org=org, session=session, to_agent_id=to.public_id, actor=Actor(kind="agent", user=by)
    )


@database_sync_to_async
def new_agent(acme):
    return MembershipFactory(organization=acme, role=Role.AGENT, user__name="Dave Doe").user


@database_sync_to_async
def session_state(session_id):
    session = SupportSession.objects.filter(organization__slug="acme").select_related("agent").get(public_id=session_id)
    return session.status, session.agent.get_full_name()


async def test_transfer_while_connected(acme, bob):
    dave = await new_agent(acme)
    session_id, agent, customer = await pair(bob)
    await transfer(session_id, bob, dave)

    told = await next_of(customer, "agent")
    assert told["name"] == "Dave Doe" and told["id"] == dave.public_id
    refused = await next_of(agent, "error")
    assert refused["code"] == "session_transferred" and refused["agent"]["name"] == "Dave Doe"
    closed = await agent.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_REFUSED}
    await agent.wait()
    assert not consumers.grace_timers  # the previous agent leaving does not start the "agent gone" countdown

    replacement = await agent_socket(dave, session_id)
    assert (await next_of(customer, "peer"))["online"] is True
    assert await session_state(session_id) == (Status.CONSENT_REQUESTED, "Dave Doe")
    await replacement.disconnect()
    await customer.disconnect()
    for task in list(consumers.grace_timers):
        task.cancel()
