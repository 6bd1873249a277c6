"""Frames from an attacker's side: none crashes or silently drops a socket, a socket that closes still runs its
disconnect logic, and per-connection rate limits keep a flood from reaching the database or the peer
(docs/signaling.md, "Messages" and "Rate limits")."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from uvicorn.protocols.utils import ClientDisconnected

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from sessions.models import ChatMessage, SessionEvent, Status, SupportSession
from signaling import consumers, live, protocol
from signaling.consumers import CLOSE_INTERNAL_ERROR, CLOSE_NOT_FOUND, SessionConsumer
from signaling.tests.test_session_consumer import active_session, new_session, next_of

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
DOC = (Path(__file__).resolve().parents[2] / "docs" / "signaling.md").read_text()


def nested(depth: int, inner: str = "0") -> str:
    return "[" * depth + inner + "]" * depth


async def hello_socket(user) -> WebsocketCommunicator:
    cookie = await session_cookie_for(user)
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await communicator.connect()
    assert connected, code
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def send_frame(communicator: WebsocketCommunicator, *, text: str | None = None, data: bytes | None = None):
    """Any frame, empty ones included (``send_to`` refuses those)."""
    event = {"type": "websocket.receive", "text": text} if text is not None else {"type": "websocket.receive"}
    if data is not None:
        event["bytes"] = data
    await communicator.send_input(event)


@database_sync_to_async
def chat_lines(session_id: str) -> list[str]:
    """The lines kept (sessions.chat); none goes to the session log any more."""
    assert not SessionEvent.objects.filter(
        session__organization__slug="acme", session__public_id=session_id, type="chat"
    ).exists()
    lines = ChatMessage.objects.filter(session__organization__slug="acme", session__public_id=session_id)
    return [line.text for line in lines]


@database_sync_to_async
def status_of(session_id: str) -> str:
    return SupportSession.objects.filter(organization__slug="acme").get(public_id=session_id).status


# --- the presence socket ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"data": b"\x00\x01binary"}, "malformed"),
        ({"data": b""}, "malformed"),
        ({"text": ""}, "malformed"),
        ({"text": "{not json"}, "malformed"),
        ({"text": "[1, 2]"}, "malformed"),
        ({"text": '{"type": "ping", "n": NaN}'}, "malformed"),
        ({"text": nested(20_000)}, "malformed"),  # RecursionError inside json.loads
        ({"text": '{"type": "ping", "x": ' + nested(40) + "}"}, "malformed"),  # decodes, but over the depth limit
        ({"text": "x" * (64 * 1024 + 1)}, "too_large"),
        ({"text": '{"type": "teleport"}'}, "unknown_type"),
    ],
)
async def test_the_presence_socket_answers_any_frame_with_an_error_and_stays_open(acme, bob, frame, code):
    communicator = await hello_socket(bob)
    await send_frame(communicator, **frame)
    error = await communicator.receive_json_from()
    assert (error["type"], error["code"], error["v"]) == ("error", code, 1) and error["message"]
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_a_flood_on_the_presence_socket_is_refused_then_closed(acme, bob):
    communicator = await hello_socket(bob)
    rate, burst = protocol.RATE_LIMITS["message"]
    for _ in range(3 * burst):
        await communicator.send_to(text_data='{"type": "ping"}')
    answers = []
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        answers.append(json.loads(output["text"]))
    assert output["code"] == protocol.CLOSE_RATE_LIMITED
    pongs = [a for a in answers if a["type"] == "pong"]
    refused = [a for a in answers if a["type"] == "error"]
    assert burst <= len(pongs) <= burst + rate * 5
    assert refused and {a["code"] for a in refused} == {"rate_limited"}
    assert all(a["retry_after_ms"] > 0 for a in refused)
    assert refused[-1]["message"] == "Too many messages: closing the connection."
    await communicator.disconnect()


# --- the session socket: frames that used to crash the handler --------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "chat", "text": ' + nested(20_000, '"hi"') + "}", "malformed"),
        ('{"type": "chat", "text": "hi", "extra": ' + nested(33) + "}", "malformed"),
        ('{"type": "chat", "text": "a\\u0000b"}', "invalid_message"),
        ('{"type": "chat", "text": "\\ud800"}', "invalid_message"),
        ('{"type": "chat", "text": "tail \\udfff"}', "invalid_message"),
        ('{"type": "chat", "text": "raw \ud800 surrogate"}', "invalid_message"),  # a str no UTF-8 frame can carry
        ('{"type": "offer", "sdp": "v=0\\u0000"}', "invalid_message"),
        ('{"type": "ice", "candidate": {"candidate": "\\ud800"}}', "invalid_message"),
        ('{"type": "ice", "candidate": {"\\u0000": 1}}', "invalid_message"),
        ('{"type": "ice", "candidate": {"sdpMLineIndex": NaN}}', "malformed"),
        ('{"type": "ice", "candidate": {"sdpMLineIndex": 1e400}}', "malformed"),
        ('{"type": "ice", "candidate": {"sdpMLineIndex": -Infinity}}', "malformed"),
        ('{"type": "chat", "text": "' + "é" * 40_000 + '"}', "too_large"),  # 40,000 characters, 80 KB of UTF-8
    ],
)
async def test_hostile_frames_in_an_active_session_get_an_error_and_reach_nobody(acme, bob, frame, code):
    session_id, _token, agent, customer = await active_session(bob)
    await customer.send_to(text_data=frame)
    error = await next_of(customer, "error")
    assert error["code"] == code and error["message"]
    assert await agent.receive_nothing(timeout=0.2)  # not relayed
    assert await chat_lines(session_id) == []  # not recorded
    # The connection lives on: the next chat line is relayed and recorded.
    await customer.send_json_to({"type": "chat", "text": "still here"})
    assert (await next_of(agent, "chat"))["text"] == "still here"
    assert await chat_lines(session_id) == ["still here"]
    await agent.disconnect()
    await customer.disconnect()


async def test_nesting_up_to_the_limit_is_relayed(acme, bob):
    _session_id, _token, agent, customer = await active_session(bob)
    inner = nested(protocol.MAX_JSON_DEPTH - 2)  # inside the message object and the candidate object
    await agent.send_to(text_data='{"type": "ice", "candidate": {"x": ' + inner + "}}")
    assert (await next_of(customer, "ice"))["candidate"]["x"] == json.loads(inner)
    await agent.send_to(text_data='{"type": "ice", "candidate": {"x": ' + nested(protocol.MAX_JSON_DEPTH - 1) + "}}")
    assert (await next_of(agent, "error"))["code"] == "malformed"
    await agent.disconnect()
    await customer.disconnect()


async def test_a_nul_in_the_session_id_or_customer_token_is_not_found(acme, bob):
    session_id, token = await new_session(bob)
    for path in (
        f"/ws/v1/sessions/{session_id}%00?customer_token={token}",
        f"/ws/v1/sessions/{session_id}?customer_token={token}%00",
    ):
        communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
        connected, code = await communicator.connect()
        assert not connected and code == CLOSE_NOT_FOUND


# --- a handler that fails, or a client that is gone: a close frame, and the disconnect logic runs -----------------


async def test_a_failing_handler_closes_with_1011_and_the_session_does_not_stay_active(
    acme, bob, settings, monkeypatch
):
    settings.CONNECT_RECONNECT_GRACE = 0
    session_id, _token, agent, customer = await active_session(bob)

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(live, "relay", broken)
    await customer.send_json_to({"type": "offer", "sdp": "v=0"})
    assert await customer.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_INTERNAL_ERROR}
    # Its disconnect logic ran at once: the agent is told, and the grace period (0 s here) ends the session.
    assert await next_of(agent, "peer") == {"v": 1, "type": "peer", "role": "customer", "online": False}
    presence = await live.presence_get(session_id, "customer")
    assert presence is not None and presence["online"] is False
    state = await next_of(agent, "state", timeout=3)
    assert (state["status"], state["end_reason"]) == ("ended", "disconnected")
    assert await status_of(session_id) == Status.ENDED
    await customer.wait(timeout=1)  # the consumer has finished, without an exception


async def test_a_client_gone_before_its_close_arrived_still_runs_the_disconnect_logic(acme, bob, monkeypatch):
    session_id, _token, agent, customer = await active_session(bob)

    async def gone(self, event):
        raise ClientDisconnected  # what uvicorn's send raises once the TCP connection is gone

    monkeypatch.setattr(SessionConsumer, "relay_message", gone)
    await agent.send_json_to({"type": "offer", "sdp": "v=0"})  # the customer's consumer fails to pass it on
    assert await next_of(agent, "peer", timeout=2) == {"v": 1, "type": "peer", "role": "customer", "online": False}
    assert (await live.presence_get(session_id, "customer"))["online"] is False
    assert consumers.grace_timers  # the session ends unless the customer comes back
    await agent.disconnect()


async def test_disconnect_steps_do_not_depend_on_one_another(acme, bob, monkeypatch):
    session_id, _token, agent, customer = await active_session(bob)
    real_presence_set = live.presence_set

    async def presence_set(session_id, role, *, online, epoch):
        if not online:
            raise ConnectionError("Redis went away")
        await real_presence_set(session_id, role, online=online, epoch=epoch)

    monkeypatch.setattr(live, "presence_set", presence_set)
    await customer.disconnect()
    assert await next_of(agent, "peer", timeout=2) == {"v": 1, "type": "peer", "role": "customer", "online": False}
    assert consumers.grace_timers
    await agent.disconnect()


# --- rate limits -----------------------------------------------------------------------------------------------


async def test_300_chat_lines_in_a_burst_reach_neither_the_database_nor_the_peer(acme, bob):
    session_id, _token, agent, customer = await active_session(bob)
    rate, burst = protocol.RATE_LIMITS["chat"]
    started = time.monotonic()
    for i in range(300):
        await customer.send_to(text_data=json.dumps({"type": "chat", "text": f"spam {i}"}))
    answers = []
    while True:
        output = await customer.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        answers.append(json.loads(output["text"]))
    elapsed = time.monotonic() - started
    assert output["code"] == protocol.CLOSE_RATE_LIMITED  # it kept on far past the limit

    allowed = burst + rate * elapsed
    recorded = await chat_lines(session_id)
    assert burst <= len(recorded) <= allowed
    assert recorded == [f"spam {i}" for i in range(len(recorded))]
    relayed = [(await next_of(agent, "chat", timeout=10))["text"] for _ in recorded]
    assert relayed == recorded
    assert await agent.receive_nothing(timeout=0.3)  # and nothing more
    errors = [a for a in answers if a["type"] == "error"]
    assert errors and {e["code"] for e in errors} == {"rate_limited"}
    assert all(e["retry_after_ms"] > 0 for e in errors)
    # The socket that closed ran its disconnect logic once the close handshake was done: the agent hears it.
    await customer.disconnect()
    assert await next_of(agent, "peer") == {"v": 1, "type": "peer", "role": "customer", "online": False}
    await agent.disconnect()


async def test_a_client_that_waits_as_told_is_served_again(acme, bob, monkeypatch):
    now = [1000.0]  # the limits' clock, moved by hand: a slow database must not refill the bucket meanwhile
    monkeypatch.setattr(protocol, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setitem(protocol.RATE_LIMITS, "chat", (2.0, 2))
    session_id, _token, agent, customer = await active_session(bob)
    for text in ("one", "two", "three"):
        await customer.send_json_to({"type": "chat", "text": text})
    error = await next_of(customer, "error")
    assert error["code"] == "rate_limited" and error["retry_after_ms"] == 1000
    now[0] += 0.9
    await customer.send_json_to({"type": "chat", "text": "too soon"})
    again = await next_of(customer, "error")  # a refused message counts too: the wait is longer now
    assert again["code"] == "rate_limited" and 600 <= again["retry_after_ms"] <= 601  # rounded up
    now[0] += again["retry_after_ms"] / 1000
    await customer.send_json_to({"type": "chat", "text": "four"})
    assert [(await next_of(agent, "chat"))["text"] for _ in range(3)] == ["one", "two", "four"]
    assert await chat_lines(session_id) == ["one", "two", "four"]
    await agent.disconnect()
    await customer.disconnect()


async def test_a_negotiation_burst_passes(acme, bob):
    """An offer, 60 trickled candidates within a second and the end of candidates: all relayed, nothing refused."""
    _session_id, _token, agent, customer = await active_session(bob)
    await agent.send_json_to({"type": "offer", "sdp": "v=0 " + "a" * 4000})
    for i in range(60):
        await agent.send_json_to(
            {"type": "ice", "candidate": {"candidate": f"candidate:{i} 1 udp 1 10.0.0.1 {i} typ host"}}
        )
    await agent.send_json_to({"type": "ice", "candidate": None})
    received = [await next_of(customer, "offer")] + [await next_of(customer, "ice") for _ in range(61)]
    assert [m["seq"] for m in received] == list(range(1, 63))
    assert await agent.receive_nothing(timeout=0.2)  # no error
    await agent.disconnect()
    await customer.disconnect()


async def test_control_messages_have_their_own_limit(acme, bob):
    session_id, _token, agent, customer = await active_session(bob)
    rate, burst = protocol.RATE_LIMITS["control"]
    for _ in range(burst + 5):
        await agent.send_json_to({"type": "control.request"})
    # Media negotiation is not held back by the spent control limit; and its answers mark the end of the burst's.
    await agent.send_json_to({"type": "offer", "sdp": "v=0"})
    await agent.send_json_to({"type": "ping"})
    codes = []
    while (message := await agent.receive_json_from(timeout=10))["type"] != "pong":
        codes.append(message["code"])
    assert codes and set(codes) == {"rate_limited"}
    relayed = 0
    while (message := await customer.receive_json_from(timeout=10))["type"] != "offer":
        relayed += message["type"] == "control.request"
    assert message["sdp"] == "v=0"
    assert burst <= relayed < burst + 5 and relayed + len(codes) == burst + 5
    recorded = await database_sync_to_async(
        lambda: SessionEvent.objects.filter(
            session__organization__slug="acme", session__public_id=session_id, type="control_request"
        ).count()
    )()
    assert recorded == relayed
    await agent.disconnect()
    await customer.disconnect()


def test_token_bucket_refills_and_counts_refused_messages(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(protocol, "time", SimpleNamespace(monotonic=lambda: now[0]))
    bucket = protocol.TokenBucket(2.0, 3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(1.0)  # refused, and owed: one token is 1 s away at 2 a second
    now[0] += 1.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0


def test_the_limits_are_documented():
    for name, (rate, burst) in protocol.RATE_LIMITS.items():
        row = re.search(rf"^\| `{name}` \|[^\n]*\| {rate:g} a second \| {burst} \|$", DOC, flags=re.M)
        assert row, name
    assert f"| {protocol.CLOSE_RATE_LIMITED} |" in DOC and f"| {CLOSE_INTERNAL_ERROR} |" in DOC
    assert f"nested at most {protocol.MAX_JSON_DEPTH} deep" in DOC
    for name in protocol.CONTROL_LIMITED - {n for n in protocol.CONTROL_LIMITED if "." in n}:
        assert f"`{name}`" in DOC.split("### Rate limits")[1].split("##")[0], name
