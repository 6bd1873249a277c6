"""A load-generator worker: ``python -m bench.loadgen`` reads one JSON spec line on stdin, opens its connections,
prints ``{"event": "ready", ...}``, then waits for ``go <t0>`` (pairs) or ``stop`` (idle) on stdin and prints its
results as one JSON line.

Pairs mode (workloads A and C, and the capacity sweep): each pair is two WebSocket connections, side ``a`` (the
agent) and side ``b`` (the customer). An *exchange* on a pair is one session setup: ``a`` sends a 4 KB offer and then
trickles 20 ICE candidates of ~200 bytes over one second; when ``b`` receives the offer it sends a 4 KB answer and
trickles its own 20 candidates. Every message carries a marker ``bench=<sender>/<n>/<sent ns>``: the receiver
measures one-way latency from it (both ends live in this process, on one monotonic clock) and losses are counted per
sender by ``n``.

Against the product (``flavour: product``) the client follows the rules of ``static/js/signaling.js``: the customer
consents first; a message whose ``seq`` is not above the last one seen is dropped as already seen; after a dropped
connection it reconnects, sends ``resume`` with its last ``seq``, then what it queued while disconnected.

Idle mode (workload B): many connections that only send a ``ping`` heartbeat, each at a random phase.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.servers import WS_OPTIONS

MARKER = re.compile(r"bench=(\w+)/(\d+)/(\d+)")
TRICKLE = 20  # candidates each way
MESSAGES_PER_EXCHANGE = 2 + 2 * TRICKLE
TRICKLE_SECONDS = 1.0
SDP_BYTES = 4096
CANDIDATE_BYTES = 200

# The loopback options the end-to-end clients use too; thousands of connections open at once need a longer wait.
CONNECT_OPTIONS = {**WS_OPTIONS, "open_timeout": 120}


def _offer(marker: str, kind: str) -> str:
    head = f"v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\na=x-{marker}\r\n"
    body = "a=candidate-padding:" + "x" * SDP_BYTES
    return json.dumps({"type": kind, "sdp": (head + body)[:SDP_BYTES]})


def _candidate(marker: str) -> str:
    line = f"candidate:842163049 1 udp 1677729535 192.0.2.10 54321 typ srflx raddr 0.0.0.0 rport 0 {marker}"
    text = json.dumps({"type": "ice", "candidate": {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}})
    pad = CANDIDATE_BYTES - len(text)
    if pad > 0:
        line += " generation 0 ufrag " + "u" * max(pad - 20, 1)
        text = json.dumps({"type": "ice", "candidate": {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}})
    return text


class Side:
    """One end of a pair: a connection that can drop and come back."""

    def __init__(self, run: Run, key: str, url: str, headers: dict[str, str], product: bool) -> None:
        self.run, self.key, self.url, self.headers, self.product = run, key, url, headers, product
        self.ws: ClientConnection | None = None
        self.peer: Side | None = None
        self.n = 0  # messages this side has sent
        self.got: set[int] = set()  # n of the peer's messages received
        self.last_seq = 0
        self.outbox: list[str] = []
        self.status = ""
        self.active = asyncio.Event()
        self.stopping = False

    async def open(self) -> None:
        self.ws = await connect(self.url, additional_headers=self.headers, origin=self.run.origin, **CONNECT_OPTIONS)
        asyncio.create_task(self._read(self.ws))

    async def send_marked(self, make, exchange_kind: str | None = None) -> None:
        self.n += 1
        marker = f"bench={self.key}/{self.n}/{time.monotonic_ns()}"
        self.run.sent += 1
        await self.send(make(marker, exchange_kind) if exchange_kind else make(marker))

    async def send(self, text: str) -> None:
        ws = self.ws
        if ws is None:
            self.outbox.append(text)
            return
        try:
            await ws.send(text)
        except ConnectionClosed:
            self.outbox.append(text)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._receive(raw)
        except ConnectionClosed:
            pass
        if self.ws is ws:
            self.ws = None
        if not self.stopping and self.run.reconnect:
            asyncio.create_task(self._reconnect())

    def _receive(self, raw: str) -> None:
        now = time.monotonic_ns()
        found = MARKER.search(raw)
        if found is None:
            self._control(json.loads(raw))
            return
        if self.product:
            at = raw.rfind('"seq":')
            seq = int(re.match(r'"seq":\s*(\d+)', raw[at:]).group(1)) if at >= 0 else 0
            if seq <= self.last_seq:  # signaling.js drops it as already seen
                self.run.stale += 1
                return
            self.last_seq = seq
        n, sent_ns = int(found.group(2)), int(found.group(3))
        if n in self.got:
            self.run.duplicates += 1
            return
        self.got.add(n)
        self.run.deliveries.append((sent_ns, now))
        if '"type": "offer"' in raw[:40] or '"type":"offer"' in raw[:60]:
            task = asyncio.create_task(self.run.answer(self))
            self.run.answering.add(task)
            task.add_done_callback(self.run.answering.discard)

    def _control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self.status = message["session"]["status"]
            if self.status == "consent_requested" and self.key.endswith("b"):
                asyncio.create_task(self.send('{"type": "consent.grant"}'))
        elif kind == "state":
            self.status = message["status"]
        elif kind == "resync":
            self.last_seq = message.get("seq", self.last_seq)
            self.run.resyncs += 1
        elif kind == "error":
            self.run.errors.append(message.get("code", "?"))
        if self.status == "active":
            self.active.set()

    async def _reconnect(self) -> None:
        self.run.reconnects += 1
        delay = 0.1
        while not self.stopping:
            try:
                self.ws = await connect(
                    self.url, additional_headers=self.headers, origin=self.run.origin, **CONNECT_OPTIONS
                )
            except (TimeoutError, OSError, InvalidStatus, ConnectionClosed):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            asyncio.create_task(self._read(self.ws))
            if self.product and self.last_seq:
                await self.send(json.dumps({"type": "resume", "last_seq": self.last_seq}))
            queued, self.outbox = self.outbox, []
            for text in queued:
                await self.send(text)
            return


class Run:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.origin = spec.get("origin")
        self.reconnect = spec.get("reconnect", False)
        self.product = spec.get("flavour") == "product"
        self.sent = 0
        self.stale = 0
        self.duplicates = 0
        self.resyncs = 0
        self.reconnects = 0
        self.errors: list[str] = []
        self.deliveries: list[tuple[int, int]] = []
        self.pairs: list[tuple[Side, Side]] = []
        self.answering: set[asyncio.Task] = set()  # answers being trickled

    def reset(self) -> None:
        self.sent = self.stale = self.duplicates = self.resyncs = self.reconnects = 0
        self.errors, self.deliveries = [], []
        for pair in self.pairs:
            for side in pair:
                side.stopping = False

    async def connect_pairs(self) -> float:
        limit = asyncio.Semaphore(self.spec.get("connect_concurrency", 64))
        for i, pair in enumerate(self.spec["pairs"]):
            key = pair.get("key", f"p{i}")
            a = Side(self, key + "a", pair["a_url"], pair.get("a_headers", {}), self.product)
            b = Side(self, key + "b", pair["b_url"], pair.get("b_headers", {}), self.product)
            a.peer, b.peer = b, a
            self.pairs.append((a, b))

        async def open_side(side: Side) -> None:
            async with limit:
                await side.open()

        started = time.perf_counter()
        await asyncio.gather(*(open_side(side) for pair in self.pairs for side in pair))
        elapsed = time.perf_counter() - started
        if self.product:
            await asyncio.wait_for(asyncio.gather(*(s.active.wait() for p in self.pairs for s in p)), 120)
        return elapsed

    async def exchange(self, pair: tuple[Side, Side], at: float) -> None:
        a, _ = pair
        await _sleep_until(at)
        await a.send_marked(_offer, "offer")
        for k in range(1, TRICKLE + 1):
            await _sleep_until(at + k * TRICKLE_SECONDS / TRICKLE)
            await a.send_marked(_candidate)

    async def answer(self, b: Side) -> None:
        start = time.monotonic()
        await b.send_marked(_offer, "answer")
        for k in range(1, TRICKLE + 1):
            await _sleep_until(start + k * TRICKLE_SECONDS / TRICKLE)
            await b.send_marked(_candidate)

    async def go(self, t0: float) -> dict[str, Any]:
        schedule = self.spec["exchanges"]
        tasks = [asyncio.create_task(self.exchange(self.pairs[i], t0 + offset)) for i, offset in schedule]
        await asyncio.gather(*tasks)
        await _sleep_until(t0 + max((o for _, o in schedule), default=0) + TRICKLE_SECONDS + 0.2)
        # Drain: wait until everything sent has arrived, or nothing has arrived for a while.
        drain_idle = self.spec.get("drain_idle", 3.0)
        deadline = time.monotonic() + self.spec.get("drain_max", 60.0)
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            delivered = len(self.deliveries)
            if delivered >= self.sent and not self.answering and not any(s.outbox for p in self.pairs for s in p):
                break
            if delivered != last_count or self.answering:
                last_count, last_change = delivered, time.monotonic()
            elif time.monotonic() - last_change > drain_idle:
                break
            await asyncio.sleep(0.05)
        for pair in self.pairs:
            for side in pair:
                side.stopping = True
        return {
            "sent": self.sent,
            "delivered": len(self.deliveries),
            "lost": self.sent - len(self.deliveries),
            "stale": self.stale,
            "duplicates": self.duplicates,
            "resyncs": self.resyncs,
            "reconnects": self.reconnects,
            "errors": self.errors[:20],
            "error_count": len(self.errors),
            "deliveries": self.deliveries,
            "cpu_seconds": _own_cpu(),
        }


async def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def idle(spec: dict[str, Any], lines: asyncio.StreamReader) -> dict[str, Any]:
    """Hold ``count`` idle connections, each sending a ping every ``heartbeat`` seconds, until told to stop."""
    limit = asyncio.Semaphore(spec.get("connect_concurrency", 64))
    connections: list[ClientConnection] = []
    failures: list[str] = []
    pongs = 0
    heartbeat = spec.get("heartbeat", 20.0)
    stop = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal pongs
        async with limit:
            try:
                ws = await connect(
                    spec["url"].format(i=i),
                    additional_headers=spec.get("headers", {}),
                    origin=spec.get("origin"),
                    **CONNECT_OPTIONS,
                )
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(repr(exc)[:200])
                return
        connections.append(ws)
        try:  # each connection beats at its own phase
            await asyncio.wait_for(stop.wait(), random.uniform(0, heartbeat))
        except TimeoutError:
            pass
        while not stop.is_set():
            try:
                await ws.send('{"type": "ping"}')
                while '"pong"' not in await ws.recv():
                    pass
                pongs += 1
            except ConnectionClosed:
                failures.append("closed")
                return
            try:
                await asyncio.wait_for(stop.wait(), heartbeat)
            except TimeoutError:
                pass

    started = time.perf_counter()
    tasks = [asyncio.create_task(one(i)) for i in range(spec["count"])]
    while len(connections) + len(failures) < spec["count"]:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    _emit({"event": "ready", "connected": len(connections), "failures": failures[:5], "connect_seconds": elapsed})
    await lines.readline()  # "stop"
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"connected": len(connections), "pongs": pongs, "failures": len(failures), "cpu_seconds": _own_cpu()}


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = json.loads(await reader.readline())
    if spec["mode"] == "idle":
        _emit({"event": "result", **await idle(spec, reader)})
        return
    run = Run(spec)
    connect_seconds = await run.connect_pairs()
    _emit({"event": "ready", "connections": 2 * len(run.pairs), "connect_seconds": connect_seconds})
    while True:  # "go <t0> <schedule as JSON>" runs one step; anything else ends
        command = (await reader.readline()).decode().split(" ", 2)
        if command[0] != "go":
            return
        run.spec["exchanges"] = json.loads(command[2])
        run.reset()
        result = await run.go(float(command[1]))
        _emit({"event": "result", "connect_seconds": connect_seconds, **result})


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    os._exit(0)  # leave the sockets to the kernel: closing thousands politely would only slow the run
