"""WebRTC through real server processes: two aiortc peers, an agent and a customer, find each other through the
HTTP API and the signaling WebSocket of daphne, as the native apps do, and a data-channel message gets through.

1. one embedded server (SQLite, in-memory channel layer), host candidates on loopback;
2. the same with coturn: relay candidates only, credentials from the API; and no connection when coturn checks
   another secret than the server signs with;
3. two server processes sharing PostgreSQL and Redis, the agent on one, the customer on the other.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import suppress
from dataclasses import dataclass, field

import pytest
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from conftest import require_binary

from .servers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Server,
    SignalingSocket,
    free_port,
    postgres_database,
    prepare_database,
    require_services,
    running_coturn,
    running_servers,
    server_env,
)

pytestmark = [pytest.mark.e2e]

CONNECT_TIMEOUT = 20.0  # ICE + DTLS + SCTP on loopback take well under a second; this only bounds a failure
NO_CONNECTION_WAIT = 8.0


# --- Fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _loopback_candidates(monkeypatch):
    """Host candidates on 127.0.0.1 only (aioice leaves loopback out and takes every other interface): the
    peers' traffic stays on loopback, and a machine with no other interface works the same."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


# --- Driving the product --------------------------------------------------------------------------------


@dataclass
class Parties:
    """A session after consent: both WebSockets open, and the ICE servers each side was given."""

    session_id: str
    token: str
    agent: SignalingSocket
    customer: SignalingSocket
    agent_ice: list[dict]
    customer_ice: list[dict]

    async def close(self) -> None:
        await self.agent.close()
        await self.customer.close()


async def sign_in(server: Server) -> str:
    answer = await server.api(
        "POST",
        "/api/v1/auth/token",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "device": {"name": "e2e", "platform": "linux"}},
    )
    return answer["access_token"]


async def start_consented_session(agent_server: Server, customer_server: Server, token: str) -> Parties:
    """alice starts a session on ``agent_server``; Carl joins with its code and consents on ``customer_server``."""
    session = await agent_server.api("POST", "/api/v1/sessions", {}, token=token, expect=201)
    agent_ice = (await agent_server.api("GET", "/api/v1/ice-servers", token=token))["ice_servers"]
    joined = await customer_server.api("POST", "/api/v1/join", {"code": session["code"], "name": "Carl"})
    assert joined["session_id"] == session["id"]
    assert joined["status"] == "consent_requested"

    agent = await SignalingSocket.connect(
        agent_server.ws_url(f"/ws/v1/sessions/{session['id']}"), origin=agent_server.origin, token=token
    )
    customer = None
    try:
        hello = await agent.expect("hello")
        assert (hello["role"], hello["session"]["status"]) == ("agent", "consent_requested")
        customer = await SignalingSocket.connect(
            customer_server.ws_url(f"{joined['websocket_url']}?customer_token={joined['customer_token']}"),
            origin=customer_server.origin,
        )
        hello = await customer.expect("hello")
        assert (hello["role"], hello["peer_online"]) == ("customer", True)

        await customer.send({"type": "consent.grant"})
        for side in (customer, agent):
            state = await side.expect("state")
            assert state["status"] == "active", state
    except BaseException:
        await agent.close()
        if customer is not None:
            await customer.close()
        raise
    return Parties(session["id"], token, agent, customer, agent_ice, joined["ice_servers"])


def rtc_configuration(ice_servers: list[dict], *, relay_only: bool = False) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
    )


@dataclass
class Call:
    """The agent's (viewer's) peer connection with its data channel, and the customer's."""

    agent: RTCPeerConnection
    customer: RTCPeerConnection
    channel: RTCDataChannel
    offer_sdp: str = ""
    answer_sdp: str = ""
    open: asyncio.Event = field(default_factory=asyncio.Event)
    received: asyncio.Queue = field(default_factory=asyncio.Queue)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # connected or failed, on either side

    async def close(self) -> None:
        for pc in (self.agent, self.customer):
            with suppress(TimeoutError):
                await asyncio.wait_for(pc.close(), 5)


async def bounded(awaitable, seconds: float = 15.0):
    return await asyncio.wait_for(awaitable, seconds)


async def negotiate(parties: Parties, agent_config: RTCConfiguration, customer_config: RTCConfiguration) -> Call:
    """The agent offers a data channel, the customer answers; SDP (with all candidates) goes through the server."""
    agent, customer = RTCPeerConnection(agent_config), RTCPeerConnection(customer_config)
    call = Call(agent=agent, customer=customer, channel=agent.createDataChannel("control"))
    call.channel.on("open", call.open.set)

    @customer.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        channel.on("message", call.received.put_nowait)

    for pc in (agent, customer):

        @pc.on("connectionstatechange")
        def on_state(pc: RTCPeerConnection = pc) -> None:
            if pc.connectionState in ("connected", "failed"):
                call.settled.set()

    try:
        # aiortc gathers every candidate before setLocalDescription returns: no trickling needed.
        await bounded(agent.setLocalDescription(await bounded(agent.createOffer())))
        call.offer_sdp = agent.localDescription.sdp
        await parties.agent.send({"type": "offer", "sdp": call.offer_sdp})

        offer = await parties.customer.expect("offer")
        assert (offer["from"], offer["sdp"]) == ("agent", call.offer_sdp)
        await bounded(customer.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer")))
        await bounded(customer.setLocalDescription(await bounded(customer.createAnswer())))
        call.answer_sdp = customer.localDescription.sdp
        await parties.customer.send({"type": "answer", "sdp": call.answer_sdp})

        answer = await parties.agent.expect("answer")
        assert (answer["from"], answer["sdp"]) == ("customer", call.answer_sdp)
        await bounded(agent.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer")))
    except BaseException:
        await call.close()
        raise
    return call


async def send_over_data_channel(call: Call, text: str) -> str:
    """Wait for the channel to open, send ``text`` from the agent; what the customer receives."""
    await asyncio.wait_for(call.open.wait(), CONNECT_TIMEOUT)
    call.channel.send(text)
    return await asyncio.wait_for(call.received.get(), 10)


def candidates(sdp: str) -> set[tuple[str, str]]:
    """``(type, address)`` of every candidate in ``sdp``."""
    found = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            found.add((fields[fields.index("typ") + 1], fields[4]))
    return found


# --- Tests ----------------------------------------------------------------------------------------------


async def test_two_aiortc_peers_connect_through_the_server(embedded_server):
    server = embedded_server()
    token = await sign_in(server)
    parties = await start_consented_session(server, server, token)
    try:
        assert parties.agent_ice == [] and parties.customer_ice == []  # no STUN/TURN configured: host candidates
        call = await negotiate(parties, rtc_configuration([]), rtc_configuration([]))
        try:
            assert candidates(call.offer_sdp) == {("host", "127.0.0.1")} == candidates(call.answer_sdp)
            text = await send_over_data_channel(call, "hello from the agent")
            assert text == "hello from the agent"
            assert call.agent.connectionState == "connected"
            assert call.customer.connectionState == "connected"
        finally:
            await call.close()
    finally:
        await parties.close()


async def test_turn_relay_with_coturn(embedded_server, tmp_path):
    turnserver = require_binary("turnserver", "e2e-deps")
    port = free_port(udp_too=True)
    secret = secrets.token_urlsafe(24)
    turn_url = f"turn:127.0.0.1:{port}?transport=udp"
    server = embedded_server(CONNECT_TURN_URLS=turn_url, CONNECT_TURN_SECRET=secret)
    token = await sign_in(server)

    # coturn checks the secret the server signs credentials with: the peers connect through relays only.
    with running_coturn(turnserver, port, secret, tmp_path / "coturn-same-secret"):
        parties = await start_consented_session(server, server, token)
        try:
            for ice in (parties.agent_ice, parties.customer_ice):
                turn = [s for s in ice if s.get("username")]
                assert len(turn) == 1 and turn[0]["urls"] == [turn_url] and turn[0]["credential"], ice
            call = await negotiate(
                parties,
                rtc_configuration(parties.agent_ice, relay_only=True),
                rtc_configuration(parties.customer_ice, relay_only=True),
            )
            try:
                # Relayed addresses only: the peers reach each other through coturn or not at all.
                assert candidates(call.offer_sdp) == {("relay", "127.0.0.1")} == candidates(call.answer_sdp)
                assert await send_over_data_channel(call, "relayed by coturn") == "relayed by coturn"
            finally:
                await call.close()
            await parties.agent.send({"type": "end"})
            assert (await parties.customer.expect("state"))["status"] == "ended"
        finally:
            await parties.close()

    # coturn checks another secret: the credentials the server hands out are refused, no relay, no connection.
    with running_coturn(turnserver, port, secrets.token_urlsafe(24), tmp_path / "coturn-other-secret"):
        parties = await start_consented_session(server, server, token)
        try:
            call = await negotiate(
                parties,
                rtc_configuration(parties.agent_ice, relay_only=True),
                rtc_configuration(parties.customer_ice, relay_only=True),
            )
            try:
                assert candidates(call.offer_sdp) == set() == candidates(call.answer_sdp)  # coturn said 401
                with suppress(TimeoutError):  # either side may give up early ("failed"); else wait it out
                    await asyncio.wait_for(call.settled.wait(), NO_CONNECTION_WAIT)
                assert not call.open.is_set()
                assert call.agent.connectionState != "connected"
                assert call.customer.connectionState != "connected"
                assert call.received.empty()
            finally:
                await call.close()
        finally:
            await parties.close()


async def test_two_server_processes_share_one_session(tmp_path):
    database_url, redis_url = require_services()
    with postgres_database(database_url) as shared_url:
        env = server_env(tmp_path / "var", DATABASE_URL=shared_url, REDIS_URL=redis_url)
        await asyncio.to_thread(prepare_database, env)
        with running_servers(["server-a", "server-b"], env, tmp_path / "logs") as (server_a, server_b):
            token = await sign_in(server_a)
            # Agent on A, customer on B: consent, offer, answer cross between the processes through Redis.
            parties = await start_consented_session(server_a, server_b, token)
            try:
                call = await negotiate(parties, rtc_configuration([]), rtc_configuration([]))
                try:
                    assert candidates(call.offer_sdp) == {("host", "127.0.0.1")} == candidates(call.answer_sdp)
                    assert await send_over_data_channel(call, "across two processes") == "across two processes"
                finally:
                    await call.close()

                await parties.agent.send({"type": "end"})
                for side in (parties.customer, parties.agent):
                    state = await side.expect("state")
                    assert (state["status"], state["end_reason"]) == ("ended", "agent_ended"), state
                    assert await side.close_code() == 4410
            finally:
                await parties.close()
            session = await server_b.api("GET", f"/api/v1/sessions/{parties.session_id}", token=token)
            assert session["status"] == "ended"
