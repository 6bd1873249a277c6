"""The baselines: the fastest a Python relay can be on this machine, against which the product is measured.

R1: ``python -m bench.relay --port P`` — one process, the ``websockets`` library, in-memory routing.
R2: ``python -m bench.relay --port P --redis URL`` — the same relay, run as several processes that route every
    message through Redis PUBLISH/SUBSCRIBE (the product's topology: the two parties may sit on different processes).

Both have per-message compression and keepalive pings off. Paths:
- ``/<pair>/<role>`` (role ``a`` or ``b``): every text frame is passed, as is, to the other role of the pair;
- ``/idle/<n>``: an idle connection that answers ``{"type": "ping"}`` with ``{"type": "pong"}`` (workload B).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

PONG = '{"type":"pong"}'


class Relay:
    def __init__(self, redis_url: str | None, drop_every: int = 0) -> None:
        self.local: dict[str, ServerConnection] = {}
        self.drop_every, self.candidates = drop_every, 0  # the harness's own test: a relay that loses candidates
        self.redis = None
        if redis_url:
            import redis.asyncio as aioredis

            # Publishing waits for one of a few connections rather than opening one per message in flight.
            pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=8, timeout=None)
            self.redis = aioredis.Redis(connection_pool=pool)
            self.pubsub = aioredis.Redis.from_url(redis_url).pubsub()

    async def start(self) -> None:
        if self.redis is not None:
            await self.pubsub.subscribe("relay.control")  # subscribed from the start, so the reader can run
            asyncio.create_task(self._from_redis())

    async def _from_redis(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] != "message":
                continue
            target = self.local.get(message["channel"].decode())
            if target is not None:
                await _send(target, message["data"].decode())

    async def handler(self, connection: ServerConnection) -> None:
        parts = connection.request.path.strip("/").split("/")
        try:
            await self._serve(connection, parts)
        except ConnectionClosed:
            pass  # the load generator leaves without closing: not the relay's concern

    async def _serve(self, connection: ServerConnection, parts: list[str]) -> None:
        if parts[0] == "idle":
            async for message in connection:
                if '"ping"' in message:
                    await connection.send(PONG)
            return
        pair, role = parts[0], parts[1]
        me, peer = f"{pair}.{role}", f"{pair}.{'b' if role == 'a' else 'a'}"
        self.local[me] = connection
        if self.redis is not None:
            await self.pubsub.subscribe(me)
        try:
            async for message in connection:
                if self.drop_every and '"ice"' in message[:40]:
                    self.candidates += 1
                    if self.candidates % self.drop_every == 0:
                        continue
                if self.redis is not None:
                    await self.redis.publish(peer, message)
                elif (target := self.local.get(peer)) is not None:
                    await _send(target, message)
        finally:
            self.local.pop(me, None)
            if self.redis is not None:
                await self.pubsub.unsubscribe(me)


async def _send(connection: ServerConnection, message: str) -> None:
    try:
        await connection.send(message)
    except Exception:  # noqa: BLE001 - the peer went away; a relay drops what it cannot deliver
        pass


async def main(port: int, redis_url: str | None, drop_every: int) -> None:
    relay = Relay(redis_url, drop_every)
    await relay.start()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(
        relay.handler, "127.0.0.1", port, compression=None, ping_interval=None, max_size=2**20, backlog=4096
    ):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--drop-every", type=int, default=0, help="lose every Nth ICE candidate (tests only)")
    args = parser.parse_args()
    try:  # the same event loop as the product's server
        import uvloop

        uvloop.run(main(args.port, args.redis, args.drop_every))
    except ImportError:
        asyncio.run(main(args.port, args.redis, args.drop_every))
