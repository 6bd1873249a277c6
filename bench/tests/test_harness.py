"""The benchmark harness runs and counts correctly (at tiny sizes; no timing is asserted: see docs/performance.md)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest

from bench import run, servers
from bench.loadgen import MESSAGES_PER_EXCHANGE
from tests.support.servers import SignalingSocket

pytestmark = pytest.mark.e2e


@pytest.fixture
def relay_factory():
    started: list[servers.Group] = []

    def start(**options) -> servers.Group:
        group = servers.start_relay("test-relay", 1, **options)
        started.append(group)
        return group

    yield start
    for group in started:
        group.stop()


def measure(group: servers.Group, pairs: int) -> dict:
    pool = run.Pool(group, run.relay_pairs(group, pairs, "t"), flavour="relay", workers=1)
    try:
        assert pool.connect["connections"] == 2 * pairs
        return pool.step(run.burst_schedule(pairs))
    finally:
        pool.close()


def test_every_message_of_a_burst_is_sent_delivered_and_timed(relay_factory):
    figures = measure(relay_factory(), 3)
    assert figures["sent"] == figures["delivered"] == 3 * MESSAGES_PER_EXCHANGE
    assert figures["lost"] == figures["stale"] == figures["duplicates"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["p999_ms"]
    assert figures["server_cpu_s"] > 0


def test_messages_a_relay_loses_are_counted_as_lost(relay_factory):
    # A relay that drops every 5th ICE candidate: 3 pairs send 120 candidates, so 24 never arrive.
    figures = measure(relay_factory(drop_every=5), 3)
    assert figures["lost"] == 24
    assert figures["delivered"] == 3 * MESSAGES_PER_EXCHANGE - 24


def test_the_shared_signaling_client_speaks_to_the_relay(relay_factory):
    """The end-to-end suites' WebSocket client (tests/support/servers.py) against the baseline relay: JSON both ways,
    frames passed from one side to the other, and a closing handshake that reports its code."""
    port = relay_factory().ports[0]
    origin = f"http://127.0.0.1:{port}"

    async def exchange() -> tuple[dict, dict, int]:
        idle = await SignalingSocket.connect(f"ws://127.0.0.1:{port}/idle/1", origin=origin)
        await idle.send({"type": "ping"})
        pong = await idle.receive()
        a = await SignalingSocket.connect(f"ws://127.0.0.1:{port}/pair1/a", origin=origin)
        b = await SignalingSocket.connect(f"ws://127.0.0.1:{port}/pair1/b", origin=origin)
        await b.send({"type": "ready", "v": 1})
        await a.expect("ready")  # both ends are registered with the relay now
        await a.send({"type": "offer", "sdp": "v=0", "v": 1})
        offer = await b.expect("offer")
        for socket in (idle, a, b):
            await socket.close()
        return pong, offer, await idle.close_code()

    pong, offer, code = asyncio.run(exchange())
    assert pong == {"type": "pong"}
    assert offer == {"type": "offer", "sdp": "v=0", "v": 1}
    assert code == 1000


def test_percentiles_pick_the_right_sample():
    samples = [float(i) for i in range(1, 1001)]
    assert run.percentile(samples, 50) == 500.0
    assert run.percentile(samples, 99) == 990.0
    assert run.percentile([], 99) != run.percentile([], 99)  # NaN: no sample, no figure


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres") and not os.environ.get("CONNECT_REQUIRE_E2E"),
    reason="the quick run needs PostgreSQL (CI has it)",
)
def test_a_quick_run_measures_every_workload_and_writes_the_document(tmp_path):
    assert shutil.which("redis-server"), "redis-server is needed"
    out, raw = tmp_path / "performance.md", tmp_path / "results.json"
    env = {**os.environ, "BENCH_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/bench_connect_test"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--json", str(raw)],
        cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(raw.read_text())
    for relay, sizes in results["A"].items():
        for figures in sizes.values():
            assert figures["sent"] == figures["delivered"] > 0, relay
            assert figures["lost"] == figures["stale"] == 0, relay
    assert results["B"]["R1"]["20"]["connections"] == 20
    assert all(counts["20"]["connections"] == 20 for counts in results["B"].values())
    fault = results["C"]
    assert fault["delivered"] > 0 and fault["stale"] == 0  # after the restart nothing is dropped as already seen
    assert fault["recovery_s"] < 30
    api = results["D"]
    assert api["list"]["errors"] == api["create"]["errors"] == api["trivial"]["errors"] == 0
    assert api["queries"]["list_10"] == api["queries"]["list_50"]
    text = out.read_text()
    for heading in ("## Targets", "Workload A", "Capacity", "Workload B", "Workload C", "Workload D"):
        assert heading in text
