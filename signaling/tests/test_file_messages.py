"""File transfer control over the session socket (sessions.files, docs/signaling.md "File transfer"): who may send
which step, the organization's limit enforced before relaying, and what the session log keeps (never content)."""

from __future__ import annotations

import hashlib

import pytest
from channels.db import database_sync_to_async

from orgs.models import Organization, Role
from orgs.tests.factories import MembershipFactory
from sessions.models import SessionEvent
from signaling.tests.test_session_consumer import (
    agent_socket,
    customer_socket,
    new_session,
    next_of,
    open_socket,
    pair,
)

pytestmark = pytest.mark.django_db(transaction=True)

SHA = hashlib.sha256(b"the file").hexdigest()
FILE_EVENTS = ("file_offered", "file_accepted", "file_declined", "file_cancelled", "file_sent", "file_received")


async def active_pair(agent_user):
    session_id, agent, customer = await pair(agent_user)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await next_of(customer, "state")
    return session_id, agent, customer


@database_sync_to_async
def file_log(session_id):
    events = SessionEvent.objects.unscoped("a test reads one session's log").filter(session__public_id=session_id)
    events = events.filter(type__in=FILE_EVENTS).order_by("id")
    return [(e.type, e.actor_kind, e.data) for e in events]


@database_sync_to_async
def set_limit(slug, limit):
    Organization.objects.filter(slug=slug).update(file_transfer_max_bytes=limit)


async def nothing_arrives(*sockets):
    """Nothing but presence notices reaches these sockets."""
    for socket in sockets:
        while not await socket.receive_nothing(timeout=0.2):
            message = await socket.receive_json_from()
            assert message["type"] == "peer", message


async def close(*sockets):
    for socket in sockets:
        await socket.disconnect()


@pytest.mark.parametrize("direction", ["customer to agent", "agent to customer"])
async def test_a_file_goes_offer_accept_done_received_and_the_log_keeps_name_size_and_hash(acme, bob, direction):
    session_id, agent, customer = await active_pair(bob)
    sender, receiver = (customer, agent) if direction == "customer to agent" else (agent, customer)
    sender_role, receiver_role = ("customer", "agent") if sender is customer else ("agent", "customer")
    file_id = "f1a2b3c4-0001"

    await sender.send_json_to({"type": "file.offer", "id": file_id, "name": "crash report.txt", "size": 8})
    offer = await next_of(receiver, "file.offer")
    assert {k: offer[k] for k in ("id", "name", "size", "from")} == {
        "id": file_id,
        "name": "crash report.txt",
        "size": 8,
        "from": sender_role,
    }
    await receiver.send_json_to({"type": "file.accept", "id": file_id})
    assert (await next_of(sender, "file.accept"))["from"] == receiver_role
    await sender.send_json_to({"type": "file.done", "id": file_id, "sha256": SHA})
    assert (await next_of(receiver, "file.done"))["sha256"] == SHA
    await receiver.send_json_to({"type": "file.received", "id": file_id, "sha256": SHA})
    assert (await next_of(sender, "file.received"))["sha256"] == SHA

    log = await file_log(session_id)
    assert [(kind, actor) for kind, actor, _ in log] == [
        ("file_offered", sender_role),
        ("file_accepted", receiver_role),
        ("file_sent", sender_role),
        ("file_received", receiver_role),
    ]
    for _, _, data in log:
        assert data["name"] == "crash report.txt" and data["size"] == 8 and data["id"] == file_id
        assert "content" not in data and "the file" not in str(data)
    assert log[0][2]["sender"] == sender_role
    assert log[2][2]["sha256"] == SHA and log[3][2] == {**log[3][2], "sha256": SHA, "matches": True}
    await close(agent, customer)


async def test_a_received_hash_that_differs_is_logged_as_not_matching(acme, bob):
    session_id, agent, customer = await active_pair(bob)
    await agent.send_json_to({"type": "file.offer", "id": "mismatch-01", "name": "a.bin", "size": 3})
    await next_of(customer, "file.offer")
    await customer.send_json_to({"type": "file.accept", "id": "mismatch-01"})
    await next_of(agent, "file.accept")
    await agent.send_json_to({"type": "file.done", "id": "mismatch-01", "sha256": SHA})
    await next_of(customer, "file.done")
    await customer.send_json_to({"type": "file.received", "id": "mismatch-01", "sha256": "0" * 64})
    await next_of(agent, "file.received")
    assert (await file_log(session_id))[-1][2]["matches"] is False
    await close(agent, customer)


async def test_an_offer_over_the_organizations_limit_is_refused_and_goes_nowhere(acme, bob):
    await set_limit("acme", 1024)
    session_id, agent, customer = await active_pair(bob)
    await customer.send_json_to({"type": "file.offer", "id": "too-big-0001", "name": "video.mp4", "size": 1025})
    error = await next_of(customer, "error")
    assert error["code"] == "file_too_large" and error["id"] == "too-big-0001" and error["max_bytes"] == 1024
    assert error["message"] == (
        "video.mp4 is 1,025 B; files in this organization's sessions are at most 1 KB (1,024 B)."
    )
    await nothing_arrives(agent)
    assert await file_log(session_id) == []
    # Nothing was offered: the receiver cannot accept it, and the id may be offered again within the limit.
    await agent.send_json_to({"type": "file.accept", "id": "too-big-0001"})
    assert (await next_of(agent, "error"))["code"] == "unknown_file"
    await nothing_arrives(customer)
    await customer.send_json_to({"type": "file.offer", "id": "too-big-0001", "name": "video.mp4", "size": 1024})
    assert (await next_of(agent, "file.offer"))["size"] == 1024
    await close(agent, customer)


async def test_without_an_organization_limit_the_installations_default_applies(acme, bob, settings):
    settings.CONNECT_FILE_TRANSFER_MAX_BYTES = 5000
    session_id, agent, customer = await active_pair(bob)
    await agent.send_json_to({"type": "file.offer", "id": "default-0001", "name": "big.zip", "size": 5001})
    assert (await next_of(agent, "error"))["max_bytes"] == 5000
    await nothing_arrives(customer)
    await agent.send_json_to({"type": "file.offer", "id": "default-0002", "name": "ok.zip", "size": 5000})
    assert (await next_of(customer, "file.offer"))["id"] == "default-0002"
    await close(agent, customer)


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ({"id": "short", "name": "a.txt", "size": 1}, "'id'"),
        ({"id": "has space 1", "name": "a.txt", "size": 1}, "'id'"),
        ({"id": "x" * 65, "name": "a.txt", "size": 1}, "'id'"),
        ({"id": "valid-id-01", "name": "../../etc/passwd", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "C:\\boot.ini", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "invoice\u202etxt.exe", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "line\nbreak.txt", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "   ", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": " padded.txt", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "", "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "a" * 256, "size": 1}, "'name'"),
        ({"id": "valid-id-01", "name": "a.txt", "size": -1}, "'size'"),
        ({"id": "valid-id-01", "name": "a.txt", "size": True}, "'size'"),
        ({"id": "valid-id-01", "name": "a.txt", "size": 1.5}, "'size'"),
        ({"id": "valid-id-01", "name": "a.txt"}, "'size'"),
    ],
)
async def test_a_malformed_offer_is_refused_with_a_clear_error_and_changes_nothing(acme, bob, message, complaint):
    session_id, agent, customer = await active_pair(bob)
    await customer.send_json_to({"type": "file.offer", **message})
    error = await next_of(customer, "error")
    assert error["code"] == "invalid_message" and complaint in error["message"]
    await nothing_arrives(agent)
    assert await file_log(session_id) == []
    await close(agent, customer)


async def test_only_the_receiver_answers_and_each_step_comes_in_order(acme, bob):
    session_id, agent, customer = await active_pair(bob)
    await agent.send_json_to({"type": "file.offer", "id": "order-0001", "name": "a.txt", "size": 4})
    await next_of(customer, "file.offer")

    refused = [
        (agent, {"type": "file.accept", "id": "order-0001"}),  # the sender cannot accept its own offer
        (agent, {"type": "file.done", "id": "order-0001", "sha256": SHA}),  # no bytes before an accept
        (customer, {"type": "file.received", "id": "order-0001", "sha256": SHA}),  # nothing was sent
        (agent, {"type": "file.offer", "id": "order-0001", "name": "b.txt", "size": 4}),  # an id is used once
        (customer, {"type": "file.accept", "id": "never-offered"}),
    ]
    for socket, message in refused:
        await socket.send_json_to(message)
        error = await next_of(socket, "error")
        assert error["code"] == "unknown_file" and error["id"] == message["id"], message
    await customer.send_json_to({"type": "file.done", "id": "order-0001", "sha256": "ABC"})
    assert (await next_of(customer, "error"))["code"] == "invalid_message"
    await nothing_arrives(agent, customer)

    await customer.send_json_to({"type": "file.decline", "id": "order-0001"})
    assert (await next_of(agent, "file.decline"))["id"] == "order-0001"
    await customer.send_json_to({"type": "file.accept", "id": "order-0001"})  # declined is final
    assert (await next_of(customer, "error"))["code"] == "unknown_file"
    await nothing_arrives(agent)
    assert [kind for kind, _, _ in await file_log(session_id)] == ["file_offered", "file_declined"]
    await close(agent, customer)


async def test_either_party_can_cancel_until_received(acme, bob):
    session_id, agent, customer = await active_pair(bob)
    await customer.send_json_to({"type": "file.offer", "id": "cancel-0001", "name": "a.txt", "size": 4})
    await next_of(agent, "file.offer")
    await agent.send_json_to({"type": "file.accept", "id": "cancel-0001"})
    await next_of(customer, "file.accept")
    await agent.send_json_to({"type": "file.cancel", "id": "cancel-0001"})
    assert (await next_of(customer, "file.cancel"))["from"] == "agent"
    await customer.send_json_to({"type": "file.done", "id": "cancel-0001", "sha256": SHA})
    assert (await next_of(customer, "error"))["code"] == "unknown_file"
    log = await file_log(session_id)
    assert [kind for kind, _, _ in log] == ["file_offered", "file_accepted", "file_cancelled"]
    assert log[-1][2]["by"] == "agent"
    await close(agent, customer)


async def test_files_flow_only_once_the_customer_has_consented(acme, bob):
    session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "file.offer", "id": "early-0001", "name": "a.txt", "size": 1})
    assert (await next_of(customer, "error"))["code"] == "consent_required"
    await nothing_arrives(agent)
    await close(agent, customer)


async def test_another_sessions_party_cannot_answer_or_inject(acme, globex, bob, gina):
    dave = await database_sync_to_async(
        lambda: MembershipFactory(organization=acme, role=Role.AGENT, user__email="dave@acme.test").user
    )()
    session_id, agent, customer = await active_pair(bob)
    await agent.send_json_to({"type": "file.offer", "id": "mine-00001", "name": "fix.ps1", "size": 10})
    await next_of(customer, "file.offer")

    # Another agent of the organization, in a session of their own, names the first session's offer.
    other_id, other_agent, other_customer = await active_pair(dave)
    await other_customer.send_json_to({"type": "file.accept", "id": "mine-00001"})
    assert (await next_of(other_customer, "error"))["code"] == "unknown_file"
    await other_agent.send_json_to({"type": "file.cancel", "id": "mine-00001"})
    assert (await next_of(other_agent, "error"))["code"] == "unknown_file"
    await nothing_arrives(agent, customer)
    assert await file_log(other_id) == []

    # Neither that agent nor another organization's owner can open the first session's socket at all.
    from connect.tests.test_asgi import session_cookie_for

    for stranger in (dave, gina):
        cookie = await session_cookie_for(stranger)
        socket, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}", [(b"cookie", cookie)])
        assert not connected or (await next_of(socket, "error"))["code"] in ("not_found", "forbidden")
        await socket.disconnect()

    # The offer is still the customer's to answer, and only theirs.
    await customer.send_json_to({"type": "file.accept", "id": "mine-00001"})
    assert (await next_of(agent, "file.accept"))["from"] == "customer"
    assert [kind for kind, _, _ in await file_log(session_id)] == ["file_offered", "file_accepted"]
    await close(agent, customer, other_agent, other_customer)


async def test_file_messages_have_their_own_rate_limit(acme, bob):
    session_id, agent, customer = await active_pair(bob)
    # Answers to no offer are refused at once (no database write), so the burst is not spread out by the writes.
    for number in range(24):
        await agent.send_json_to({"type": "file.cancel", "id": f"burst-{number:04d}"})
    codes = []
    while "rate_limited" not in codes:
        codes.append((await next_of(agent, "error", timeout=5))["code"])
    assert codes.count("unknown_file") <= 21 and len(codes) <= 22  # a burst of 20, and what refilled meanwhile
    await agent.send_json_to({"type": "file.offer", "id": "after-0001", "name": "a.txt", "size": 1})
    assert (await next_of(agent, "error"))["code"] == "rate_limited"  # not relayed, not logged
    await nothing_arrives(customer)
    assert await file_log(session_id) == []
    await close(agent, customer)


async def test_the_customer_socket_of_a_session_cannot_reach_another_sessions_file(acme, bob):
    first_id, first_agent, first_customer = await active_pair(bob)
    second_id, second_token = await new_session(bob)
    second_customer = await customer_socket(second_id, second_token)
    second_agent = await agent_socket(bob, second_id)
    await first_customer.send_json_to({"type": "file.offer", "id": "first-0001", "name": "a.txt", "size": 1})
    await next_of(first_agent, "file.offer")
    await second_agent.send_json_to({"type": "file.accept", "id": "first-0001"})
    assert (await next_of(second_agent, "error"))["code"] == "consent_required"  # not even active
    await nothing_arrives(first_customer)
    await close(first_agent, first_customer, second_agent, second_customer)
