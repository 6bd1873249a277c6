"""The organization's live socket (``/ws/v1/orgs/<slug>/live``): only members with ``sessions:read`` open it; it
carries hints (ids, never session data) after a session event commits and when an agent comes or goes; an agent who
sees only their own sessions hears only of those; it closes when its credential ends."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from orgs import services as org_services
from orgs.models import Membership, Role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import MembershipFactory
from sessions import services as session_services
from signaling.consumers import CLOSE_NOT_FOUND, CLOSE_REFUSED, CLOSE_UNAUTHENTICATED

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


async def live_socket(user, slug="acme"):
    headers = [ORIGIN, (b"cookie", await session_cookie_for(user))] if user else [ORIGIN]
    communicator = WebsocketCommunicator(application, f"/ws/v1/orgs/{slug}/live", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def opened(user, slug="acme"):
    communicator, connected, code = await live_socket(user, slug)
    assert connected, code
    hello = await communicator.receive_json_from(timeout=5)
    assert hello == {"v": 1, "type": "hello", "organization": slug}
    return communicator


async def next_hint(communicator, kind, timeout=5.0):
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def hears_nothing(communicator, seconds=0.5):
    assert await communicator.receive_nothing(timeout=seconds)


@database_sync_to_async
def start_session(agent, slug="acme", **fields):
    session = session_services.session_start(
        org=org_context_for_user(agent, slug), actor=session_services.Actor(kind="agent", user=agent), **fields
    )
    return session.public_id


@database_sync_to_async
def add_agent(organization, email):
    return MembershipFactory(organization=organization, role=Role.AGENT, user__email=email).user


async def test_anonymous_is_refused(acme):
    _communicator, connected, code = await live_socket(None)
    assert not connected and code == CLOSE_UNAUTHENTICATED


async def test_another_organization_and_outsiders_are_refused(acme, globex, gina, outsider):
    for user in (gina, outsider):
        _communicator, connected, code = await live_socket(user, "acme")
        assert not connected and code == CLOSE_NOT_FOUND
    _communicator, connected, code = await live_socket(gina, "nosuchorg")
    assert not connected and code == CLOSE_NOT_FOUND


async def test_a_new_session_is_hinted_to_whoever_may_see_it(acme, alice, bob, globex, gina):
    dave = await add_agent(acme, "dave@acme.test")
    bobs, alices, daves, ginas = (
        await opened(bob),
        await opened(alice),
        await opened(dave),
        await opened(gina, "globex"),
    )
    session_id = await start_session(bob, customer_name="Carl Customer")
    hint = await next_hint(bobs, "sessions.changed")
    assert hint == {"v": 1, "type": "sessions.changed", "session": session_id}  # an id, no customer, no status
    assert (await next_hint(alices, "sessions.changed"))["session"] == session_id  # the owner sees every session
    await hears_nothing(daves)  # another agent, and Acme lets agents see only their own
    await hears_nothing(ginas)  # another organization
    for communicator in (bobs, alices, daves, ginas):
        await communicator.disconnect()


async def test_colleagues_hear_of_each_others_sessions_when_the_organization_shows_them(acme, bob):
    acme.agents_see_all_sessions = True
    await database_sync_to_async(acme.save)()
    dave = await add_agent(acme, "dave@acme.test")
    daves = await opened(dave)
    session_id = await start_session(bob)
    assert (await next_hint(daves, "sessions.changed"))["session"] == session_id
    await daves.disconnect()


async def test_an_agent_coming_online_and_going_offline_is_hinted(acme, alice, bob):
    alices = await opened(alice)
    hello = WebsocketCommunicator(
        application, "/ws/v1/hello", headers=[ORIGIN, (b"cookie", await session_cookie_for(bob))]
    )
    assert (await hello.connect())[0]
    assert (await next_hint(alices, "agents.changed")) == {"v": 1, "type": "agents.changed"}
    # A heartbeat is no news.
    await hello.receive_json_from(timeout=5)
    await hello.send_json_to({"type": "ping"})
    await hello.receive_json_from(timeout=5)
    await hears_nothing(alices)
    await hello.disconnect()
    assert (await next_hint(alices, "agents.changed")) == {"v": 1, "type": "agents.changed"}
    from signaling import live

    assert await live.online_agents([bob.public_id]) == set()  # offline at once, not when the heartbeat expires
    await alices.disconnect()


async def test_the_socket_closes_when_the_member_is_removed(acme, alice, bob):
    bobs = await opened(bob)

    @database_sync_to_async
    def remove_bob() -> None:
        membership = Membership.objects.for_org(acme).get(user=bob)
        org_services.membership_remove(membership=membership, actor=alice)

    await remove_bob()
    message = await bobs.receive_json_from(timeout=5)
    assert message["type"] == "error"
    closed = await bobs.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_REFUSED}
    await asyncio.sleep(0)


async def test_only_ping_is_answered(acme, bob):
    bobs = await opened(bob)
    await bobs.send_json_to({"type": "ping"})
    assert (await bobs.receive_json_from(timeout=5))["type"] == "pong"
    await bobs.send_json_to({"type": "chat", "text": "hi"})
    assert (await bobs.receive_json_from(timeout=5))["code"] == "unknown_type"
    await bobs.disconnect()
