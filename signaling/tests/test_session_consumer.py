"""The signaling protocol and the session state machine, through the real ASGI stack (Channels' communicator)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from sessions import services
from sessions.models import SessionEvent, Status, SupportSession
from signaling import consumers
from signaling.consumers import CLOSE_ENDED, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


@database_sync_to_async
def new_session(agent, *, join=True):
    from orgs.tenancy import org_context_for_user

    org = org_context_for_user(agent, "acme")
    session = services.session_start(org=org, actor=services.Actor(kind="agent", user=agent))
    token = None
    if join:
        session, token = services.session_join(code=session.code, actor=services.Actor(kind="customer"), name="Carl")
    return session.public_id, token


@database_sync_to_async
def status_of(session_id):
    return SupportSession.objects.filter(organization__slug="acme").get(public_id=session_id).status


async def open_socket(path, headers=()):
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def agent_socket(user, session_id):
    cookie = await session_cookie_for(user)
    communicator, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}", [(b"cookie", cookie)])
    assert connected, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello" and hello["role"] == "agent" and hello["v"] == 1
    return communicator


async def customer_socket(session_id, token):
    communicator, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}?customer_token={token}")
    assert connected, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello" and hello["role"] == "customer"
    return communicator


async def next_of(communicator, kind, timeout=2):
    """The next message of ``kind``, skipping presence notices (and, when not waiting for chat, the echoes of the
    client's own chat lines: the server sends each line back to its sender once kept)."""
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message
        assert message["type"] == "peer" or message["type"] == "chat", message


async def pair(bob):
    session_id, token = await new_session(bob)
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    return session_id, agent, customer


async def test_hello_names_the_organization_and_agent(acme, bob):
    session_id, token = await new_session(bob)
    communicator, connected, _ = await open_socket(f"/ws/v1/sessions/{session_id}?customer_token={token}")
    hello = await communicator.receive_json_from()
    assert hello["session"]["organization"] == "Acme Inc" and hello["session"]["status"] == "consent_requested"
    assert hello["session"]["agent"] == bob.get_full_name() and hello["seq"] == 0
    await communicator.disconnect()


async def test_nothing_but_consent_flows_before_consent(acme, bob):
    session_id, agent, customer = await pair(bob)
    await agent.send_json_to({"type": "offer", "sdp": "v=0"})
    error = await next_of(agent, "error")
    assert error["code"] == "consent_required"
    await customer.send_json_to({"type": "chat", "text": "hi"})
    assert (await next_of(customer, "error"))["code"] == "consent_required"
    # The agent may ask for consent again; that is relayed.
    await agent.send_json_to({"type": "consent.request"})
    assert (await next_of(customer, "consent.request"))["from"] == "agent"
    assert await customer.receive_nothing(timeout=0.2)
    await agent.disconnect()
    await customer.disconnect()


async def test_consent_then_relay_with_sequence_numbers(acme, bob):
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.grant"})
    assert (await next_of(agent, "state"))["status"] == "active"
    assert (await next_of(customer, "state"))["status"] == "active"

    await agent.send_json_to({"type": "offer", "sdp": "v=0 offer"})
    offer = await next_of(customer, "offer")
    assert offer == {"v": 1, "type": "offer", "from": "agent", "sdp": "v=0 offer", "seq": 1}
    await customer.send_json_to({"type": "answer", "sdp": "v=0 answer"})
    assert (await next_of(agent, "answer"))["seq"] == 1
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}})
    assert (await next_of(customer, "ice"))["seq"] == 2
    await agent.send_json_to({"type": "ice", "candidate": None})
    assert (await next_of(customer, "ice"))["candidate"] is None
    await customer.send_json_to({"type": "chat", "text": "  hello  "})
    chat = await next_of(agent, "chat")
    assert chat["text"] == "hello" and chat["from"] == "customer"
    # Kept first, then relayed with the sender's name, the server's time and the line's id; echoed to the sender,
    # numbered in its own stream, so each side shows the line as it was kept.
    assert chat["id"].startswith("msg_") and chat["name"] == "Carl" and chat["at"].endswith("+00:00")
    echo = await next_of(customer, "chat")
    assert {k: v for k, v in echo.items() if k != "seq"} == {k: v for k, v in chat.items() if k != "seq"}
    assert echo["seq"] >= 1
    assert await status_of(session_id) == Status.ACTIVE
    await agent.disconnect()
    await customer.disconnect()


async def test_customer_revocation_ends_the_session_for_both(acme, bob):
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await next_of(customer, "state")
    await customer.send_json_to({"type": "consent.revoke"})
    for side in (agent, customer):
        state = await next_of(side, "state")
        assert state == {"v": 1, "type": "state", "status": "ended", "end_reason": "consent_revoked"}
        assert (await side.receive_output(timeout=1)) == {"type": "websocket.close", "code": CLOSE_ENDED}
    assert await status_of(session_id) == Status.ENDED


async def test_decline_ends_the_session(acme, bob):
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.decline"})
    assert (await next_of(agent, "state"))["status"] == "declined"
    assert await status_of(session_id) == Status.DECLINED


async def test_only_the_customer_consents_and_controls(acme, bob):
    session_id, agent, customer = await pair(bob)
    await agent.send_json_to({"type": "consent.grant"})
    assert (await next_of(agent, "error"))["code"] == "not_allowed"
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await next_of(customer, "state")
    await customer.send_json_to({"type": "control.request"})
    assert (await next_of(customer, "error"))["code"] == "not_allowed"
    await agent.send_json_to({"type": "control.request"})
    await next_of(customer, "control.request")
    await customer.send_json_to({"type": "control.grant"})
    await next_of(agent, "control.grant")
    types = await database_sync_to_async(
        lambda: list(
            SessionEvent.objects.filter(session__organization__slug="acme", session__public_id=session_id).values_list(
                "type", flat=True
            )
        )
    )()
    assert "control_request" in types and "control_grant" in types
    await agent.disconnect()
    await customer.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": 42}', "unknown_type"),
        ('{"type": "resume"}', "invalid_message"),
        ('{"type": "resume", "last_seq": "7"}', "invalid_message"),
        ('{"type": "resume", "last_seq": 9007199254740993}', "invalid_message"),
        ('{"type": "resume", "last_seq": -1}', "invalid_message"),
        ("x" * (64 * 1024 + 1), "too_large"),
    ],
)
async def test_bad_frames_get_a_protocol_error_and_the_connection_lives_on(acme, bob, frame, code):
    session_id, token = await new_session(bob)
    customer = await customer_socket(session_id, token)
    await customer.send_to(text_data=frame)
    error = await next_of(customer, "error")
    assert error["code"] == code and error["message"]
    await customer.send_json_to({"type": "ping"})
    assert (await next_of(customer, "pong"))["v"] == 1
    await customer.disconnect()


async def test_strangers_and_other_organizations_are_refused(acme, bob, gina, outsider, carol):
    session_id, token = await new_session(bob)
    _, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}")
    assert not connected and code == CLOSE_UNAUTHENTICATED
    for user in (gina, outsider):
        cookie = await session_cookie_for(user)
        _, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}", [(b"cookie", cookie)])
        assert not connected and code == CLOSE_NOT_FOUND
    _, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}?customer_token=cst_forged")
    assert not connected and code == CLOSE_NOT_FOUND
    _, connected, code = await open_socket(f"/ws/v1/sessions/ses_nope?customer_token={token}")
    assert not connected and code == CLOSE_NOT_FOUND
    # An admin of the organization may take over.
    admin = await agent_socket(carol, session_id)
    await admin.disconnect()


async def test_another_agent_of_the_same_org_is_refused(acme, bob):
    from orgs.models import Membership, Role
    from orgs.tests.factories import UserFactory

    other = await database_sync_to_async(UserFactory)(email="dana@acme.test")
    await database_sync_to_async(Membership.objects.create)(organization=acme, user=other, role=Role.AGENT)
    session_id, _ = await new_session(bob)
    cookie = await session_cookie_for(other)
    _, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}", [(b"cookie", cookie)])
    assert not connected and code == CLOSE_NOT_FOUND


async def test_ended_and_expired_sessions_refuse(acme, bob):
    session_id, token = await new_session(bob)
    await database_sync_to_async(
        lambda: services.session_end(
            session=SupportSession.objects.filter(organization__slug="acme").get(public_id=session_id),
            actor=services.Actor(kind="agent", user=bob),
        )
    )()
    communicator, connected, _ = await open_socket(f"/ws/v1/sessions/{session_id}?customer_token={token}")
    assert connected
    assert (await communicator.receive_json_from())["code"] == "session_ended"
    assert (await communicator.receive_output(timeout=1)) == {"type": "websocket.close", "code": CLOSE_ENDED}

    expired_id, _ = await new_session(bob, join=False)
    await database_sync_to_async(
        lambda: services.session_expire(
            session=SupportSession.objects.filter(organization__slug="acme").get(public_id=expired_id)
        )
    )()
    cookie = await session_cookie_for(bob)
    communicator, connected, _ = await open_socket(f"/ws/v1/sessions/{expired_id}", [(b"cookie", cookie)])
    assert (await communicator.receive_json_from())["code"] == "session_ended"


async def test_reconnecting_client_resumes_from_its_last_sequence_number(acme, bob):
    session_id, token, agent, customer = await active_session(bob)
    await agent.send_json_to({"type": "offer", "sdp": "first"})
    assert (await next_of(customer, "offer"))["seq"] == 1
    await customer.disconnect()  # the customer's network drops
    for i in range(3):
        await agent.send_json_to({"type": "ice", "candidate": {"candidate": f"c{i}"}})
    await asyncio.sleep(0.1)
    back = await customer_socket(session_id, token)
    await back.send_json_to({"type": "resume", "last_seq": 1})
    replayed = [await next_of(back, "ice") for _ in range(3)]
    assert [m["seq"] for m in replayed] == [2, 3, 4]
    assert [m["candidate"]["candidate"] for m in replayed] == ["c0", "c1", "c2"]
    await back.send_json_to({"type": "resume", "last_seq": 4})
    assert await back.receive_nothing(timeout=0.2)  # nothing after seq 4: nothing replayed
    await agent.disconnect()
    await back.disconnect()


async def customer_back_after_missing_seq_4(bob):
    """The customer saw 1, 2, 3, dropped, missed 4 and is connected again (it has not resumed yet)."""
    session_id, token, agent, customer = await active_session_with_three_candidates(bob)
    await customer.disconnect()
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "while away"}})
    await asyncio.sleep(0.1)
    back = await customer_socket(session_id, token)
    return session_id, agent, back


async def test_a_message_replayed_by_resume_and_then_delivered_live_is_not_a_restart(acme, bob):
    # A reconnecting client's new connection subscribes before it resumes: what was published meanwhile is both
    # replayed and delivered live. The second copy is dropped quietly, not taken for numbering that restarted.
    from channels.layers import get_channel_layer

    from signaling import live

    session_id, agent, back = await customer_back_after_missing_seq_4(bob)
    await back.send_json_to({"type": "resume", "last_seq": 3})
    replayed = await next_of(back, "ice")
    assert replayed["seq"] == 4
    late_copy = json.dumps(replayed)
    await get_channel_layer().group_send(
        live.party_group(session_id, "customer"), {"type": "relay.message", "text": late_copy, "seq": 4}
    )
    assert await back.receive_nothing(timeout=0.3)  # neither the copy nor a resync
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "next"}})
    assert (await next_of(back, "ice"))["seq"] == 5
    await agent.disconnect()
    await back.disconnect()


async def test_a_live_message_that_overtakes_the_resume_turns_the_replay_into_a_resync(acme, bob):
    # The client would drop replayed messages older than one it already got live: it must renegotiate instead.
    session_id, agent, back = await customer_back_after_missing_seq_4(bob)
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "before the resume"}})
    assert (await next_of(back, "ice"))["seq"] == 5
    await back.send_json_to({"type": "resume", "last_seq": 3})
    assert (await next_of(back, "resync"))["seq"] == 5
    await agent.disconnect()
    await back.disconnect()


async def test_a_gap_the_buffer_cannot_fill_asks_for_a_resync(acme, bob, monkeypatch):
    from signaling import live

    session_id, token = await new_session(bob)
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(customer, "state")
    await customer.disconnect()
    monkeypatch.setattr(live, "REPLAY_BUFFER", 2)
    for i in range(5):
        await agent.send_json_to({"type": "ice", "candidate": {"candidate": f"c{i}"}})
    await asyncio.sleep(0.1)
    back = await customer_socket(session_id, token)
    await back.send_json_to({"type": "resume", "last_seq": 0})
    resync = await next_of(back, "resync")
    assert resync["seq"] == 5
    await agent.disconnect()
    await back.disconnect()


async def _redis_restarts_empty():
    """What the live store holds is gone, as after a Redis restart without persistence."""
    from django.conf import settings

    from signaling import live

    if settings.REDIS_URL:
        await live.store()._redis.flushdb()
    else:
        live._memory._values.clear()
        live._memory._lists.clear()


async def active_session(bob):
    """A session the customer has consented to, with both ends connected and told."""
    session_id, token = await new_session(bob)
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(customer, "state")
    await next_of(agent, "state")
    return session_id, token, agent, customer


async def active_session_with_three_candidates(bob):
    """An active session whose customer has received candidates numbered 1, 2, 3."""
    session_id, token, agent, customer = await active_session(bob)
    for i in range(3):
        await agent.send_json_to({"type": "ice", "candidate": {"candidate": f"c{i}"}})
    assert [(await next_of(customer, "ice"))["seq"] for _ in range(3)] == [1, 2, 3]
    return session_id, token, agent, customer


async def test_sequence_numbers_never_go_back_after_redis_restarts_empty(acme, bob):
    # signaling.js drops a message whose seq is not above the last one it saw: numbers that restarted at 1 would
    # silently drop everything after a Redis restart.
    session_id, token, agent, customer = await active_session_with_three_candidates(bob)

    await _redis_restarts_empty()
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "after"}})
    assert (await next_of(customer, "ice"))["seq"] == 4  # the sender's connection remembers where it was

    # Both reconnect after another restart: the receiver's resume tells the server where numbering stood.
    await agent.disconnect()
    await customer.disconnect()
    await _redis_restarts_empty()
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    await customer.send_json_to({"type": "resume", "last_seq": 4})
    assert (await next_of(customer, "resync"))["seq"] == 4
    await agent.send_json_to({"type": "offer", "sdp": "ice restart"})
    offer = await next_of(customer, "offer")
    assert offer["seq"] == 5 and offer["sdp"] == "ice restart"
    await agent.disconnect()
    await customer.disconnect()


async def test_a_receiver_that_stayed_is_told_to_resync_when_numbering_restarts_below_it(acme, bob):
    session_id, token, agent, customer = await active_session_with_three_candidates(bob)
    await agent.disconnect()  # the agent's connection died with Redis; the customer's survived
    await _redis_restarts_empty()
    agent = await agent_socket(bob, session_id)
    await agent.send_json_to({"type": "ice", "candidate": {"candidate": "numbered 1 again"}})
    assert (await next_of(customer, "resync"))["seq"] == 3  # renegotiate: that candidate is lost
    await agent.send_json_to({"type": "offer", "sdp": "ice restart"})
    offer = await next_of(customer, "offer")
    assert offer["seq"] == 4 and offer["sdp"] == "ice restart"
    await agent.disconnect()
    await customer.disconnect()


async def test_disconnect_past_the_grace_period_ends_the_session(acme, bob, settings):
    settings.CONNECT_RECONNECT_GRACE = 0
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await customer.disconnect()
    assert (await next_of(agent, "peer", timeout=2)) == {"v": 1, "type": "peer", "role": "customer", "online": False}
    state = await next_of(agent, "state", timeout=3)
    assert state["status"] == "ended" and state["end_reason"] == "disconnected"


async def test_reconnect_within_the_grace_period_keeps_the_session(acme, bob, settings):
    settings.CONNECT_RECONNECT_GRACE = 1
    session_id, token = await new_session(bob)
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await customer.disconnect()
    back = await customer_socket(session_id, token)
    await asyncio.gather(*consumers.grace_timers)
    assert await status_of(session_id) == Status.ACTIVE
    await agent.disconnect()
    await back.disconnect()


async def test_messages_are_json_objects_with_a_version(acme, bob):
    session_id, token = await new_session(bob)
    customer = await customer_socket(session_id, token)
    await customer.send_to(bytes_data=b"\x00\x01")
    error = json.loads((await customer.receive_output(timeout=1))["text"])
    assert error["v"] == 1 and error["code"] == "malformed"
    await customer.disconnect()


async def test_sessions_abandoned_by_a_dead_process_are_ended_by_the_beat_task(acme, bob, settings):
    from sessions.tasks import end_abandoned
    from signaling import live

    settings.CONNECT_RECONNECT_GRACE = 0
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    assert await database_sync_to_async(end_abandoned)() == 0  # both present: nothing to do
    # The customer's server process dies: no disconnect handler runs, its heartbeat simply stops.
    await live.store().delete(f"live:session:{session_id}:presence:customer")
    assert await database_sync_to_async(end_abandoned)() == 1
    assert await status_of(session_id) == Status.ENDED
    state = await next_of(agent, "state")
    assert state["end_reason"] == "disconnected"


async def test_a_stale_shared_status_cannot_block_consent(acme, bob):
    """A status read from the database before a transition committed must never win over the newer one."""
    from signaling import live

    session_id, token = await new_session(bob)
    # What a consumer that read the database just before the customer joined would hold.
    await live.store().set(f"live:session:{session_id}:status", "waiting")
    await live.seed_status(session_id, "waiting")
    customer = await customer_socket(session_id, token)
    await customer.send_json_to({"type": "consent.grant"})
    assert (await next_of(customer, "state"))["status"] == "active"
    assert await status_of(session_id) == Status.ACTIVE
    await customer.disconnect()
