"""Through the real server (uvicorn, configured as connect.serve runs it): a handler that fails ends in a close frame
(1011), not a dropped TCP connection, and its disconnect logic runs; a binary frame on the presence socket is answered
and the socket stays open."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
from websockets.asyncio.client import connect

from connect.asgi import application
from connect.serve import uvicorn_options
from connect.tests.test_asgi import session_cookie_for
from signaling import consumers, live
from signaling.consumers import CLOSE_INTERNAL_ERROR
from signaling.tests.test_session_consumer import active_session, next_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def server():
    options = {**uvicorn_options({}), "loop": "asyncio", "http": "h11", "log_level": "warning"}
    config = uvicorn.Config(application, host="127.0.0.1", port=0, **options)
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.02)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    served.should_exit = True
    await task


async def test_a_binary_frame_on_the_presence_socket_is_answered_over_uvicorn(server, acme, bob):
    url, origin = server
    cookie = (await session_cookie_for(bob)).decode()
    async with connect(f"{url}/ws/v1/hello", origin=origin, additional_headers={"Cookie": cookie}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(b"\x00\x01")
        assert json.loads(await ws.recv())["code"] == "malformed"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"


async def test_a_failing_handler_sends_1011_over_uvicorn_and_the_peer_is_told(server, acme, bob, monkeypatch):
    url, origin = server
    session_id, token, agent, customer = await active_session(bob)  # the agent on the in-process communicator
    await customer.disconnect()
    await next_of(agent, "peer")

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    async with connect(f"{url}/ws/v1/sessions/{session_id}?customer_token={token}", origin=origin) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        assert (await next_of(agent, "peer"))["online"] is True
        monkeypatch.setattr(live, "relay", broken)
        await ws.send(json.dumps({"type": "offer", "sdp": "v=0"}))
        await ws.wait_closed()
        assert ws.close_code == CLOSE_INTERNAL_ERROR  # a close frame, not 1006 (the connection dropped)
    assert await next_of(agent, "peer") == {"v": 1, "type": "peer", "role": "customer", "online": False}
    assert (await live.presence_get(session_id, "customer"))["online"] is False
    assert consumers.grace_timers
    await agent.disconnect()
