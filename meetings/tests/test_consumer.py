"""The meeting socket (``/ws/v1/meetings/<id>``) without LiveKit, a mesh: who may open it, what each participant
hears of the others, the relay of WebRTC offers, the chat, the host's controls (from the socket and from the API) and
what a malformed frame costs. Driven through the real ASGI application, origin check and authentication included."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from billing.models import Metric, UsageRecord
from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from meetings import services
from meetings.models import Meeting, MeetingMessage, MeetingParticipant
from orgs.models import Role
from orgs.tests.factories import MembershipFactory
from signaling.consumers import CLOSE_ENDED, CLOSE_NOT_FOUND, CLOSE_REFUSED, CLOSE_UNAUTHENTICATED

from .conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
STUN = "stun:stun.acme.test:3478"
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n"}


@pytest.fixture(autouse=True)
def _mesh(settings):
    settings.LIVEKIT_URL = ""  # no SFU: every meeting is a mesh over this socket
    settings.CONNECT_STUN_URLS = [STUN]


# --- through the API, as the pages do ---------------------------------------------------------------------------


@database_sync_to_async
def post(user, url: str, body: dict | None = None) -> dict:
    response = client_for(user).post(url, body or {}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


async def meeting_with(host, *members) -> dict:
    """A meeting ``host`` created and joined, and each of ``members`` joined: its id, invite and participants."""
    meeting = await post(host, "/api/v1/meetings", {"title": "Escalation huddle"})
    meeting["participants"] = [
        (await post(user, f"/api/v1/meetings/{meeting['id']}/join"))["participant"] for user in (host, *members)
    ]
    return meeting


async def guest_asks(meeting: dict, name: str = "Gus Guest") -> dict:
    return await post(None, "/api/v1/meetings/join", {"invite": meeting["invite"], "name": name})


async def admitted_guest(meeting: dict, host, name: str = "Gus Guest") -> dict:
    waiting = await guest_asks(meeting, name)
    await post(host, f"/api/v1/meetings/{meeting['id']}/participants/{waiting['participant']['id']}/admit")
    return waiting


@database_sync_to_async
def participant(public_id: str) -> MeetingParticipant:
    return MeetingParticipant.objects.unscoped("test").get(public_id=public_id)


@database_sync_to_async
def meeting_row(public_id: str) -> Meeting:
    return Meeting.objects.unscoped("test").get(public_id=public_id)


@database_sync_to_async
def chat_texts(meeting_id: str) -> list[str]:
    rows = MeetingMessage.objects.unscoped("test").filter(meeting__public_id=meeting_id).order_by("pk")
    return list(rows.values_list("text", flat=True))


@database_sync_to_async
def agent_of(organization, email: str):
    return MembershipFactory(organization=organization, role=Role.AGENT, user__email=email).user


# --- sockets ----------------------------------------------------------------------------------------------------


class Sockets:
    """Opens meeting sockets as a page (cookie or ``?guest_token=``, with an Origin) and closes them after the test."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def attempt(self, meeting_id: str, *, user=None, guest_token: str = "", origin: bool = True, headers=()):
        path = f"/ws/v1/meetings/{meeting_id}" + (f"?guest_token={guest_token}" if guest_token else "")
        sent = ([ORIGIN] if origin else []) + list(headers)
        if user is not None:
            sent.append((b"cookie", await session_cookie_for(user)))
        communicator = WebsocketCommunicator(application, path, headers=sent)
        self.opened.append(communicator)
        connected, code = await communicator.connect(timeout=5)
        return communicator, connected, code

    async def welcome(self, meeting_id: str, **who) -> tuple[WebsocketCommunicator, dict]:
        communicator, connected, code = await self.attempt(meeting_id, **who)
        assert connected, code
        welcome = await communicator.receive_json_from(timeout=5)
        assert welcome["type"] == "welcome", welcome
        return communicator, welcome

    async def refusal(self, meeting_id: str, **who) -> tuple[str | None, int]:
        """The error the socket said before closing (None when refused before accepting) and its close code."""
        communicator, connected, code = await self.attempt(meeting_id, **who)
        if not connected:
            return None, code
        said = await communicator.receive_json_from(timeout=5)
        assert said["type"] == "error", said
        return said["code"], await closed_with(communicator)


@pytest.fixture
async def ws():
    sockets = Sockets()
    yield sockets
    for communicator in sockets.opened:
        # A receive that timed out has cancelled its application already: disconnecting it raises CancelledError.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await communicator.disconnect(timeout=5)


async def next_of(communicator, kind: str) -> dict:
    """The next message of type ``kind``, skipping others (roster news, lobby updates)."""
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message


async def error_for(communicator, frame: dict) -> str:
    await communicator.send_json_to(frame)
    return (await next_of(communicator, "error"))["code"]


async def closed_with(communicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


async def still_open(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert (await next_of(communicator, "pong"))["type"] == "pong"


async def pair(ws, meeting: dict, first: dict, second: dict):
    """Two sockets of one meeting, each having heard of the other."""
    a, _ = await ws.welcome(meeting["id"], **first)
    b, welcome = await ws.welcome(meeting["id"], **second)
    await next_of(a, "peer.joined")
    await next_of(b, "peer.here")
    return a, b, welcome["you"]


# --- 1. access --------------------------------------------------------------------------------------------------


async def test_anonymous_and_another_organization_learn_nothing(ws, alice, gina):
    meeting = await meeting_with(alice)
    assert await ws.refusal(meeting["id"]) == (None, CLOSE_UNAUTHENTICATED)
    assert await ws.refusal(meeting["id"], user=gina) == (None, CLOSE_NOT_FOUND)
    assert await ws.refusal("mtg_nosuchmeeting", user=gina) == (None, CLOSE_NOT_FOUND)  # the same as missing


async def test_a_colleague_who_has_not_joined_is_refused(ws, alice, bob):
    meeting = await meeting_with(alice)
    assert await ws.refusal(meeting["id"], user=bob) == ("not_joined", CLOSE_REFUSED)


async def test_guests_need_their_own_admitted_credential(ws, alice):
    meeting = await meeting_with(alice)
    other = await meeting_with(alice)
    waiting = await guest_asks(meeting)
    assert await ws.refusal(meeting["id"], guest_token="mtg_guest_forged") == (None, CLOSE_NOT_FOUND)
    assert await ws.refusal(other["id"], guest_token=waiting["guest_token"]) == (None, CLOSE_NOT_FOUND)
    assert await ws.refusal(meeting["id"], guest_token=waiting["guest_token"]) == ("in_lobby", CLOSE_REFUSED)
    assert (await participant(waiting["participant"]["id"])).state == "lobby"


async def test_a_removed_participant_and_an_ended_meeting_are_refused(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    base = f"/api/v1/meetings/{meeting['id']}"
    await post(alice, f"{base}/participants/{meeting['participants'][1]['id']}/remove")
    assert await ws.refusal(meeting["id"], user=bob) == ("removed_from_meeting", CLOSE_REFUSED)
    await post(alice, f"{base}/end")
    assert await ws.refusal(meeting["id"], user=alice) == ("meeting_ended", CLOSE_ENDED)


async def test_a_guest_token_in_the_url_needs_the_pages_origin(ws, alice):
    meeting = await meeting_with(alice)
    guest = await admitted_guest(meeting, alice)
    _communicator, connected, _code = await ws.attempt(meeting["id"], guest_token=guest["guest_token"], origin=False)
    assert not connected
    assert (await participant(guest["participant"]["id"])).joined_at is None  # refused before anything happened
    # An app, which sends no Origin, presents it in a header no page can set.
    app, welcome = await ws.welcome(
        meeting["id"], origin=False, headers=[(b"authorization", f"Guest {guest['guest_token']}".encode())]
    )
    assert welcome["you"]["id"] == guest["participant"]["id"] and welcome["host"] is False


# --- 2. welcome -------------------------------------------------------------------------------------------------


async def test_the_host_is_welcomed_with_the_mesh_the_chat_and_the_lobby(ws, alice):
    meeting = await meeting_with(alice)
    waiting = await guest_asks(meeting, "Wendy Waiting")
    _host, welcome = await ws.welcome(meeting["id"], user=alice)
    assert welcome["host"] is True and welcome["you"]["id"] == meeting["participants"][0]["id"]
    assert welcome["you"]["role"] == "host"
    assert welcome["meeting"]["id"] == meeting["id"] and welcome["meeting"]["title"] == "Escalation huddle"
    assert welcome["meeting"]["mode"] == "mesh" and welcome["meeting"]["max_participants"] == 4
    assert welcome["meeting"]["locked"] is False
    assert isinstance(welcome["ice_servers"], list) and {"urls": [STUN]} in welcome["ice_servers"]
    assert welcome["chat"] == []
    assert [(p["id"], p["name"]) for p in welcome["lobby"]] == [(waiting["participant"]["id"], "Wendy Waiting")]
    assert (await participant(meeting["participants"][0]["id"])).joined_at is not None


async def test_an_admitted_guest_is_no_host_and_sees_no_lobby(ws, alice):
    meeting = await meeting_with(alice)
    guest = await admitted_guest(meeting, alice)
    await guest_asks(meeting, "Wendy Waiting")
    _guest, welcome = await ws.welcome(meeting["id"], guest_token=guest["guest_token"])
    assert welcome["host"] is False and welcome["lobby"] == []
    assert welcome["you"] == {**{k: guest["participant"][k] for k in ("id", "name", "identity")}, "role": "guest"}
    assert welcome["meeting"]["mode"] == "mesh"


# --- 3. roster and relay ----------------------------------------------------------------------------------------


async def test_each_hears_of_the_other_and_offers_reach_only_their_peer(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    host, member = meeting["participants"]
    a, _ = await ws.welcome(meeting["id"], user=alice)
    b, _ = await ws.welcome(meeting["id"], user=bob)
    joined = await next_of(a, "peer.joined")
    assert joined["peer"] == {k: member[k] for k in ("id", "name", "role", "identity")}
    here = await next_of(b, "peer.here")
    assert (here["peer"]["id"], here["peer"]["name"], here["peer"]["role"]) == (host["id"], host["name"], "host")

    await a.send_json_to({"type": "signal", "to": member["id"], "description": OFFER})
    relayed = await next_of(b, "signal")
    assert relayed["from"] == host["id"] and relayed["description"] == OFFER
    candidate = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host", "sdpMid": "0"}
    await b.send_json_to({"type": "signal", "to": host["id"], "candidate": candidate})
    assert (await next_of(a, "signal")) == {"v": 1, "type": "signal", "from": member["id"], "candidate": candidate}
    assert await a.receive_nothing(timeout=0.2)  # nobody echoes a signal back to its sender


async def test_signals_to_no_peer_of_this_meeting_are_refused(ws, alice, bob, carol):
    meeting = await meeting_with(alice, bob)
    elsewhere = await meeting_with(carol)
    a, b, _ = await pair(ws, meeting, {"user": alice}, {"user": bob})
    c, _ = await ws.welcome(elsewhere["id"], user=carol)
    stranger = elsewhere["participants"][0]["id"]
    assert await error_for(a, {"type": "signal", "to": "mpt_nobody", "description": OFFER}) == "invalid_message"
    assert await error_for(a, {"type": "signal", "to": stranger, "description": OFFER}) == "invalid_message"
    assert await c.receive_nothing(timeout=0.2)
    huge = {"type": "offer", "sdp": "a" * 60_001}  # over the SDP limit, within the frame's 64 KiB
    to_b = meeting["participants"][1]["id"]
    assert await error_for(a, {"type": "signal", "to": to_b, "description": huge}) == "too_large"
    assert await b.receive_nothing(timeout=0.2)
    await a.send_json_to({"type": "signal", "to": to_b, "description": {**huge, "sdp": "a" * 60_000}})
    assert len((await next_of(b, "signal"))["description"]["sdp"]) == 60_000  # the limit itself passes
    await still_open(a)


async def test_leaving_is_heard_and_the_stint_is_metered_in_started_minutes(ws, alice, bob, acme):
    meeting = await meeting_with(alice, bob)
    a, b, member = await pair(ws, meeting, {"user": alice}, {"user": bob})
    later = timezone.now() + timedelta(seconds=150)
    clock = mock.Mock(now=mock.Mock(return_value=later))
    with mock.patch.object(services, "timezone", clock):  # the socket closes two and a half minutes in
        await b.disconnect(timeout=5)
    assert (await next_of(a, "peer.left"))["peer"] == member["id"]
    left = await participant(member["id"])
    assert left.state == "left" and left.left_at == later and left.minutes_counted == 3
    usage = await database_sync_to_async(
        lambda: list(UsageRecord.objects.for_org(acme).filter(metric=Metric.MEETING_MINUTES).values_list("quantity"))
    )()
    assert usage == [(3,)]


# --- 4. chat ----------------------------------------------------------------------------------------------------


async def test_a_chat_line_reaches_everyone_and_is_kept(ws, alice):
    meeting = await meeting_with(alice)
    guest = await admitted_guest(meeting, alice)
    a, g, _ = await pair(ws, meeting, {"user": alice}, {"guest_token": guest["guest_token"]})
    await g.send_json_to({"type": "chat", "text": "  Can everyone see my camera?  "})
    for communicator in (a, g):
        line = await next_of(communicator, "chat")
        assert (line["from"], line["name"]) == (guest["participant"]["id"], "Gus Guest")
        assert line["text"] == "Can everyone see my camera?"
    assert await chat_texts(meeting["id"]) == ["Can everyone see my camera?"]

    for refused, code in (("   ", "empty_message"), ("x" * 2001, "message_too_long")):
        assert await error_for(g, {"type": "chat", "text": refused}) == code
    assert await error_for(g, {"type": "chat", "text": 42}) == "invalid_message"
    assert await a.receive_nothing(timeout=0.2)
    assert await chat_texts(meeting["id"]) == ["Can everyone see my camera?"]

    await g.disconnect(timeout=5)
    _again, welcome = await ws.welcome(meeting["id"], guest_token=guest["guest_token"])
    assert [(m["name"], m["text"]) for m in welcome["chat"]] == [("Gus Guest", "Can everyone see my camera?")]


async def test_a_burst_of_chat_is_rate_limited(ws, alice):
    meeting = await meeting_with(alice)
    a, _ = await ws.welcome(meeting["id"], user=alice)
    for n in range(30):
        await a.send_json_to({"type": "chat", "text": f"line {n}"})
    codes = []
    with contextlib.suppress(Exception):  # a sender that does not wait may be cut off
        while True:
            message = await a.receive_json_from(timeout=1)
            if message["type"] == "error":
                codes.append(message["code"])
    assert "rate_limited" in codes
    assert len(await chat_texts(meeting["id"])) < 30


# --- 5. host commands -------------------------------------------------------------------------------------------


async def test_only_the_host_may_command(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    guest = await admitted_guest(meeting, alice)
    waiting = await guest_asks(meeting, "Wendy Waiting")
    host_id, member_id = (p["id"] for p in meeting["participants"])
    _a, _ = await ws.welcome(meeting["id"], user=alice)
    b, _ = await ws.welcome(meeting["id"], user=bob)
    g, _ = await ws.welcome(meeting["id"], guest_token=guest["guest_token"])
    commands = [
        {"type": "remove", "participant": host_id},
        {"type": "remove", "participant": guest["participant"]["id"]},
        {"type": "lock", "locked": True},
        {"type": "end"},
        {"type": "admit", "participant": waiting["participant"]["id"]},
        {"type": "mute", "participant": host_id},
    ]
    for communicator in (b, g):
        for command in commands:
            assert await error_for(communicator, command) == "not_allowed", command
    row = await meeting_row(meeting["id"])
    assert (row.status, row.locked) == ("live", False)
    states = [
        (await participant(p)).state for p in (member_id, guest["participant"]["id"], waiting["participant"]["id"])
    ]
    assert states == ["admitted", "admitted", "lobby"]
    await still_open(b)


async def test_the_hosts_lock_and_mute_reach_the_room(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    a, b, member = await pair(ws, meeting, {"user": alice}, {"user": bob})
    await a.send_json_to({"type": "lock", "locked": True})
    for communicator in (a, b):
        assert (await next_of(communicator, "locked"))["locked"] is True
    assert (await meeting_row(meeting["id"])).locked is True
    await a.send_json_to({"type": "mute", "participant": member["id"]})
    assert (await next_of(b, "muted")) == {"v": 1, "type": "muted", "by": "host"}
    assert await a.receive_nothing(timeout=0.2)  # only the one muted is told


async def test_a_removed_participant_is_closed_and_stays_out(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    a, b, member = await pair(ws, meeting, {"user": alice}, {"user": bob})
    await a.send_json_to({"type": "remove", "participant": member["id"]})
    said = await next_of(b, "error")
    assert said["code"] == "removed_from_meeting"
    assert await closed_with(b) == CLOSE_REFUSED
    left = await next_of(a, "peer.left")
    assert left["peer"] == member["id"] and left["reason"] == "removed"
    removed = await participant(member["id"])
    assert removed.state == "removed" and removed.left_at is not None
    assert await ws.refusal(meeting["id"], user=bob) == ("removed_from_meeting", CLOSE_REFUSED)
    await a.send_json_to({"type": "signal", "to": member["id"], "description": OFFER})
    assert (await next_of(a, "error"))["code"] == "invalid_message"  # no longer a peer


async def test_the_host_admits_from_the_lobby(ws, alice):
    meeting = await meeting_with(alice)
    waiting = await guest_asks(meeting)
    a, _ = await ws.welcome(meeting["id"], user=alice)
    await a.send_json_to({"type": "admit", "participant": waiting["participant"]["id"]})
    assert (await next_of(a, "lobby"))["waiting"] == []
    back = {"invite": meeting["invite"], "guest_token": waiting["guest_token"]}
    answer = await post(None, "/api/v1/meetings/join", back)
    assert answer["state"] == "admitted" and answer["socket"] == {"url": f"/ws/v1/meetings/{meeting['id']}"}
    _g, welcome = await ws.welcome(meeting["id"], guest_token=waiting["guest_token"])
    assert welcome["you"]["id"] == waiting["participant"]["id"]


async def test_the_host_ends_the_meeting_for_everyone(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    guest = await admitted_guest(meeting, alice)
    a, b, _ = await pair(ws, meeting, {"user": alice}, {"user": bob})
    g, _ = await ws.welcome(meeting["id"], guest_token=guest["guest_token"])
    await a.send_json_to({"type": "end"})
    for communicator in (a, b, g):
        assert (await next_of(communicator, "ended"))["type"] == "ended"
        assert await closed_with(communicator) == CLOSE_ENDED
    row = await meeting_row(meeting["id"])
    assert row.status == "ended" and row.ended_at is not None
    states = {(await participant(p["id"])).state for p in meeting["participants"]}
    assert states == {"left"}


# --- 6. the API's controls reach the sockets --------------------------------------------------------------------


async def test_a_removal_through_the_api_closes_that_socket(ws, alice, bob, acme):
    dave = await agent_of(acme, "dave@acme.test")
    meeting = await meeting_with(alice, bob, dave)
    member = meeting["participants"][1]
    a, b, _ = await pair(ws, meeting, {"user": alice}, {"user": bob})
    d, _ = await ws.welcome(meeting["id"], user=dave)
    await post(alice, f"/api/v1/meetings/{meeting['id']}/participants/{member['id']}/remove")
    assert (await next_of(b, "error"))["code"] == "removed_from_meeting"
    assert await closed_with(b) == CLOSE_REFUSED
    for communicator in (a, d):
        assert (await next_of(communicator, "peer.left"))["peer"] == member["id"]
    await still_open(d)


# --- 7. malformed frames ----------------------------------------------------------------------------------------


async def test_malformed_frames_are_answered_and_the_socket_stays(ws, alice):
    meeting = await meeting_with(alice)
    a, _ = await ws.welcome(meeting["id"], user=alice)
    await a.send_to(bytes_data=b"\x00\x01binary")
    assert (await next_of(a, "error"))["code"] == "malformed"
    await a.send_to(text_data="{not json")
    assert (await next_of(a, "error"))["code"] == "malformed"
    await a.send_to(text_data="[1, 2]")
    assert (await next_of(a, "error"))["code"] == "malformed"
    assert await error_for(a, {"type": "session.end"}) == "unknown_type"
    assert await error_for(a, {"type": "hand", "raised": "yes"}) == "invalid_message"
    await still_open(a)


async def test_the_hosts_unlock_works_after_a_lock_made_through_the_api(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    a, b, _ = await pair(ws, meeting, {"user": alice}, {"user": bob})
    await post(alice, f"/api/v1/meetings/{meeting['id']}/lock", {"locked": True})
    for communicator in (a, b):
        assert (await next_of(communicator, "locked"))["locked"] is True
    await a.send_json_to({"type": "lock", "locked": False})
    await still_open(a)  # a socket handles its frames in order: the unlock is done once the ping is answered
    assert (await meeting_row(meeting["id"])).locked is False
    assert (await next_of(b, "locked"))["locked"] is False


async def test_a_member_who_dropped_comes_back_into_a_locked_meeting(ws, alice, bob):
    meeting = await meeting_with(alice, bob)
    a, b, _ = await pair(ws, meeting, {"user": alice}, {"user": bob})
    await a.send_json_to({"type": "lock", "locked": True})
    assert (await next_of(b, "locked"))["locked"] is True
    await b.disconnect()  # a reload, a network blip
    assert (await next_of(a, "peer.left"))["peer"]
    _again, welcome = await ws.welcome(meeting["id"], user=bob)
    assert welcome["meeting"]["locked"] is True
    assert (await next_of(a, "peer.joined"))["peer"]["id"] == welcome["you"]["id"]
