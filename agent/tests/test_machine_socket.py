"""The agent's machine socket against a small server of the test's own: it proves its key, backs off between failed
connections (doubling, with jitter) and stops for good when told the machine was removed."""

from __future__ import annotations

import asyncio
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.asyncio.server import serve

from agent import config as agent_config
from agent import machine


async def test_backoff_then_online_then_removed(monkeypatch, tmp_path):
    private, public = agent_config.new_key()
    verifier = Ed25519PublicKey.from_public_bytes(agent_config.b64url_decode(public))
    connections = []

    async def handler(socket):
        connections.append(socket.request.headers["Authorization"])
        assert "Origin" not in socket.request.headers
        await socket.send(json.dumps({"type": "challenge", "nonce": f"n{len(connections)}"}))
        auth = json.loads(await socket.recv())
        signed = agent_config.SIGNED_CONTEXT + b"mch_test\n" + f"n{len(connections)}".encode()
        verifier.verify(agent_config.b64url_decode(auth["signature"]), signed)  # raises if the key is wrong
        if len(connections) < 3:
            await socket.close(1011, "server trouble")
            return
        await socket.send(
            json.dumps({"type": "hello", "machine": {"id": "mch_test", "name": "box"}, "heartbeat_seconds": 20})
        )
        await socket.send(json.dumps({"type": "error", "code": "machine_removed", "message": "removed"}))
        await socket.close(4403)

    delays = []

    async def sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(machine.random, "random", lambda: 1.0)  # the top of the jitter: 1 s, then 2 s
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        cfg = agent_config.AgentConfig(server=f"http://127.0.0.1:{port}", machine_id="mch_test", private_key=private)
        client = machine.MachineClient(cfg, consent=None, files_dir=tmp_path, files_root=tmp_path)
        client.backoff_sleep = sleep
        code = await asyncio.wait_for(client.run(), 20)
    assert code == machine.EXIT_REMOVED
    assert connections == ["Machine mch_test"] * 3
    assert delays == [1.0, 2.0]  # and none after the removal: the agent stops
