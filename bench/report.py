"""Renders docs/performance.md from the results of one run (bench/run.py)."""

from __future__ import annotations

import math
from typing import Any

from .loadgen import MESSAGES_PER_EXCHANGE

PRODUCT = "product"  # the name the product's figures are kept under, and reported against the targets
KNEE_P99_MS = 50.0  # the knee: where p99 one-way latency reaches this

# What limits a target when the run misses it: our reading of the profiles (py-spy) taken while tuning.
LIMITS = {
    "throughput": (
        "A relayed message crosses Channels' consumer machinery twice (the sender's `receive`, and the receiver's "
        "`relay_message` through the channel layer's per-channel queue and `await_many_dispatch`), is parsed and "
        "validated, and its Redis script carries more than R2's bare PUBLISH. In the profile the remaining time is "
        "spread over redis-py's command path, uvicorn's WebSocket send, and asyncio task switches; no single item "
        "is above 10%."
    ),
    "latency": (
        "Per message the product has two more event-loop hops than R2 (uvicorn's receive queue into the consumer "
        "task, and the channel layer's queue into the receiving consumer), and a longer Redis script."
    ),
    "memory": (
        "Most of a product connection is uvicorn's: the handshake's parsed headers kept by the protocol object, the "
        "ASGI receive queue with its events, the connection's tasks. The product's own share is the ASGI scope "
        "(copied by each middleware layer), the authenticated user and the consumer; R1 holds only the `websockets` "
        "connection."
    ),
    "fault": "Clients reconnect with a back-off capped at one second, and the channel layer re-subscribes.",
    "api": (
        "The list authenticates the bearer token, resolves the organization and membership, reads a page (three "
        "queries, no COUNT) and serializes 50 rows with DRF: about 8 ms of CPU in-process, where the trivial view "
        "costs 0.5 ms. Under ASGI both pay Django's per-request thread and one sync/async hop forced by the "
        "sync-only middleware (WhiteNoise, MFA, body size). Closing the gap needs a leaner serializer for lists or "
        "caching the token's principal, not tuning."
    ),
}

# What was tried, with the figures measured while tuning (same machine, same harness, 2026-11-26).
TUNING = """
## What was tuned, and what the figures said

Each change below came from a figure of this harness or a profile (py-spy) taken under its load.

- **PostgreSQL connections.** With `CONN_MAX_AGE=60` under ASGI, every request thread kept its own connection: the
  first run reached PostgreSQL's 100-connection limit after about 300 API requests and answered 500 ("too many
  clients"). Connections now come from psycopg's pool (`DATABASE_POOL_MAX_SIZE`, 10 per process).
- **Redis connections of the live store.** redis-py's default pool raises "Too many connections" past 100
  concurrent commands: one burst of workload A crashed 1,712 consumers, and daphne spent 14% of its CPU formatting
  their tracebacks. A blocking pool of 32 waits instead.
- **One Redis round trip per relayed message.** It was an INCR, a pipelined RPUSH/LTRIM/EXPIRE and a PUBLISH, the
  PUBLISH behind channels-redis's per-process lock; now one script numbers, buffers and publishes, and the JSON is
  serialized once. Workload A at N=100 went from p50 234 ms to 1.7 ms, and from 1,818 to 2,692 messages per CPU-s.
- **Sequence numbers across a Redis restart.** Workload C showed numbers restarting at 1 after Redis came back
  empty, and clients dropping what followed as already seen (79 of 714 messages in a short run). Numbers now
  never go back (see docs/signaling.md); after the fix, at most a message or two in a race, each followed by a
  `resync`.
- **ASGI server.** uvicorn (websockets sans-I/O protocol, compression off) against daphne: relaying, in this run's
  capacity table (product vs product-daphne); idle memory, 27.8 against 29.9 KiB per connection at 5,000 connections
  in an earlier run (left out of this one for time). Per-message compression stays off: about 300 KiB per
  connection with zlib's defaults (FACTS.md). uvicorn's older `websockets` protocol held 35.8 KiB per idle
  connection against 27.8 KiB for the sans-I/O one (3,000 connections).
- **Cookie sessions only for browsers.** Connections with a bearer token, ticket or customer token skip Channels'
  cookie-session stack: 32.4 to 28.4 KiB per idle connection (3,000 connections).
- **Channels' per-message `close_old_connections`** (a thread hop per message) is skipped by both consumers,
  which reach the database only through `database_sync_to_async`; presence connections hold no channel-layer
  subscription. The pub/sub channel layer stays: the core layer costs four Redis round trips per send and failed
  a burst with a read timeout when checked (FACTS.md); it was not measured again here.
- **No database in the per-message path**: only consent, end, chat and control touch PostgreSQL.
- **The session list** pages by cursor: no `COUNT(*)` over the organization's whole history on each page.
- **The harness itself.** Session starts on a fixed grid lined every session's 50 ms candidate ticks up into
  bursts: at 20 setups a second p99 was 9.8 ms for R2 and 18.3 ms for the product, the latency of the bursts.
  With independent starts, 4.8 ms and 5.1 ms.
- `gc.freeze()` after start-up keeps Django's import-time objects out of full collections; not measured on its own.
"""


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _ok(met: bool | None, ratio: float | None = None, limit: float | None = None) -> str:
    if met is None:
        return "–"
    verdict = "**met**" if met else "**missed**"
    if ratio is not None and limit and abs(ratio - limit) / limit < 0.1:
        verdict += " (within 10% of the limit: run-to-run variation can turn it)"
    return verdict


def targets(results: dict[str, Any], chosen: str = PRODUCT) -> list[dict[str, Any]]:
    """Each target: what was measured, against what, and whether it holds."""
    out: list[dict[str, Any]] = []
    sweep = results.get("sweep", {})
    knee = lambda name: (sweep.get(name) or {}).get("knee") or {}  # noqa: E731
    if chosen in sweep and "R2" in sweep:
        product, r2 = knee(chosen).get("per_core"), knee("R2").get("per_core")
        ratio = product / r2 if product and r2 else None
        out.append(
            {
                "key": "throughput",
                "name": "Relayed messages per second per core, at the knee (msg per CPU-s)",
                "product": product,
                "baseline": f"R2 {_f(r2, 0)}",
                "ratio": ratio,
                "target": ">= 0.5x R2 (stretch 0.7x)",
                "met": ratio is not None and ratio >= 0.5,
                "limit": 0.5,
            }
        )
    half = results.get("half")
    if half and chosen in half and "R2" in half:
        p, b = half[chosen]["p99_ms"], half["R2"]["p99_ms"]
        out.append(
            {
                "key": "latency",
                "name": f"p99 one-way latency at half the product's capacity ({_f(half['messages_per_s'], 0)} "
                "msg/s), ms",
                "product": p,
                "baseline": f"R2 {_f(b, 2)} ms",
                "ratio": p / b if b else None,
                "target": "<= 2x R2 and < 5 ms",
                "met": p <= 2 * b and p < 5,
                "limit": 2.0,
            }
        )
    idle = results.get("B", {})
    idle_product = idle.get(chosen)
    if idle_product and "R1" in idle:
        top = max(idle_product, key=int)
        p, b = idle_product[top]["per_connection_kb"], idle["R1"][top]["per_connection_kb"]
        out.append(
            {
                "key": "memory",
                "name": f"Idle memory per connection ({_f(int(top))} connections), KiB",
                "product": p,
                "baseline": f"R1 {_f(b)} KiB",
                "ratio": p / b if b else None,
                "target": "<= 2x R1",
                "met": p <= 2 * b,
                "limit": 2.0,
            }
        )
        held = idle_product[top]["connections"]
        out.append(
            {
                "key": "memory",
                "name": "Connections held by one server process",
                "product": held,
                "baseline": "",
                "ratio": None,
                "target": f">= {_f(int(top))}",
                "met": held >= int(top) and idle_product[top]["alive"],
            }
        )
    a = results.get("A", {}).get(chosen, {})
    if a:
        lost = sum(f["lost"] + f["stale"] for f in a.values())
        lost += sum(s["lost"] + s["stale"] for s in (sweep.get(chosen) or {}).get("steps", []))
        out.append(
            {
                "key": "throughput",
                "name": "Messages lost in steady state (workload A and the sweep)",
                "product": lost,
                "baseline": "",
                "ratio": None,
                "target": "0",
                "met": lost == 0,
            }
        )
    c = results.get("C")
    if c:
        out.append(
            {
                "key": "fault",
                "name": "Redis restart: relaying recovers within (s)",
                "product": c["recovery_s"],
                "baseline": "",
                "ratio": None,
                "target": "<= 5 s",
                "met": c["recovery_s"] <= 5,
            }
        )
    d = results.get("D")
    if d:
        ratio = d["ratio_list_vs_trivial"]
        out.append(
            {
                "key": "api",
                "name": "GET /api/v1/sessions (50 items) vs the trivial DRF view (requests per CPU-s)",
                "product": d["list"]["per_core"],
                "baseline": f"trivial {_f(d['trivial']['per_core'], 0)}",
                "ratio": ratio,
                "target": ">= 0.5x (within 2x)",
                "met": ratio >= 0.5,
                "limit": 0.5,
            }
        )
        q = d["queries"]
        out.append(
            {
                "key": "api",
                "name": "SQL queries per list request (10 items / 50 items)",
                "product": f"{q['list_10']} / {q['list_50']}",
                "baseline": "",
                "ratio": None,
                "target": "constant",
                "met": q["list_10"] == q["list_50"],
            }
        )
    return out


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    v = m["versions"]
    parts = [
        "# Performance\n\n",
        "Written by `make bench` (bench/run.py); do not edit by hand: change the harness or the product, then run it "
        "again.\n"
        + (
            "\n**This is a `--quick` run (tiny sizes): it checks the harness, not the product.**\n"
            if results.get("quick")
            else ""
        ),
        "\n## The machine and the run\n\n",
        f"- Date: {m['date']}; the whole run took {_f(results.get('elapsed_s', 0.0), 0)} s.\n"
        f"- {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}.\n"
        f"- Python {m['python']}, Django {v['django']}, Channels {v['channels']}, daphne {v['daphne']}, "
        f"uvicorn {v['uvicorn']}, websockets {v['websockets']}, PostgreSQL {v['postgresql']}, Redis {v['redis']}.\n"
        "- **product** is the product as production runs it (`python -m connect.serve`: uvicorn) with its production "
        "settings (debug off, PostgreSQL, the Redis pub/sub channel layer): two processes, the agent connected to one "
        "and the customer to the other, so every message crosses Redis as in R2. **product-daphne** is the same "
        "under daphne, measured for the choice of server.\n",
        "- Load generators, servers, Redis and PostgreSQL share the same 2 cores. Throughput is therefore given per "
        'CPU-second of the relaying processes ("per core"), measured from /proc, not per wall-clock second.\n',
    ]
    rows = targets(results)
    parts.append("\n## Targets\n\n")
    parts.append(
        _table(
            ["Target", "Product", "Baseline", "Ratio", "Required", "Result"],
            [
                [
                    t["name"],
                    t["product"],
                    t["baseline"],
                    f"{t['ratio']:.2f}x" if t["ratio"] else "",
                    t["target"],
                    _ok(t["met"], t["ratio"], t.get("limit")),
                ]
                for t in rows
            ],
        )
    )
    missed = {t["key"] for t in rows if not t["met"]}
    if missed:
        parts.append("\nWhere a target is missed, what limits it:\n\n")
        parts += [f"- **{key}**: {LIMITS[key]}\n" for key in LIMITS if key in missed]
    parts.append(TUNING)
    parts.append(_workload_a(results))
    parts.append(_sweep(results))
    parts.append(_workload_b(results))
    parts.append(_workload_c(results))
    parts.append(_workload_d(results))
    parts.append(METHOD)
    return "".join(parts)


def _workload_a(results: dict[str, Any]) -> str:
    a = results.get("A")
    if not a:
        return ""
    rows = []
    for name, sizes in a.items():
        for size, f in sizes.items():
            rows.append(
                [
                    name,
                    int(size),
                    f["connect"]["per_second"],
                    f["p50_ms"],
                    f["p99_ms"],
                    f["p999_ms"],
                    f"{f['delivered']:,}/{f['sent']:,}",
                    f["lost"] + f["stale"],
                    f["per_core"],
                    f["span_s"],
                ]
            )
    return (
        "\n## Workload A: session setup burst\n\n"
        + (
            "N pairs connect (connections per second counts WebSocket handshakes, authentication included), then each "
            f"sets up once: a 4 KB offer and a 4 KB answer and 20 ICE candidates of ~200 bytes each way, trickled over "
            f"one second ({MESSAGES_PER_EXCHANGE} messages); the N starts are spread over the first second. Latency is "
            "one-way, sender to receiver. N=500 and N=2000 offer more than any of the three relays can carry on these "
            "two cores: those rows show how each drains a backlog, not latency in service.\n\n"
            "A product connection costs far more than a baseline's: it is authenticated (the bearer token or the "
            "customer's token looked up), authorized against the session and its organization, and registered in "
            "Redis (groups, status, presence, epoch and sequence: about ten round trips); the baselines accept any "
            "connection. Fewer round trips at connect (one script) is the next step if connection rate matters.\n\n"
        )
        + _table(
            [
                "Relay",
                "N",
                "Connections/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "Delivered",
                "Lost",
                "Msg per CPU-s",
                "Took s",
            ],
            rows,
        )
    )


def _sweep(results: dict[str, Any]) -> str:
    sweep = results.get("sweep")
    if not sweep:
        return ""
    rows, knees = [], []
    for name, s in sweep.items():
        for f in s["steps"]:
            rows.append(
                [
                    name,
                    f["rate"],
                    f["offered_per_s"],
                    f["delivered_per_s"],
                    f["p50_ms"],
                    f["p99_ms"],
                    f["lost"] + f["stale"],
                    f["server_cpu_s"],
                    f["per_core"],
                ]
            )
        k = s["knee"]
        knees.append(
            [
                name,
                k["delivered_per_s"] if k else None,
                k["per_core"] if k else None,
                k["p99_ms"] if k else None,
                "yes" if s["saturated"] else "no",
            ]
        )
    text = "\n## Capacity: relayed messages per second per core at the knee\n\n"
    text += (
        f"Session setups started at a steady rate for a few seconds on a pool of connected pairs, the rate raised "
        f"step by step until p99 passed {KNEE_P99_MS:.0f} ms or a message was lost. The knee is the last step "
        "within both; its throughput per core is messages delivered per CPU-second of the relaying processes. "
        '"Generator-bound" means the last step still passed: the load generator, sharing the two cores, ran out '
        "before the relay did, so the true knee is higher.\n\n"
    )
    text += _table(["Relay", "Msg/s at knee", "Msg per CPU-s at knee", "p99 ms at knee", "Generator-bound"], knees)
    text += "\nEvery step:\n\n" + _table(
        [
            "Relay",
            "Setups/s",
            "Offered msg/s",
            "Delivered msg/s",
            "p50 ms",
            "p99 ms",
            "Lost",
            "Server CPU-s",
            "Msg per CPU-s",
        ],
        rows,
    )
    half = results.get("half")
    if half:
        text += (
            f"\nAt half the product's capacity ({half['rate']} setups/s, {_f(half['messages_per_s'], 0)} msg/s):\n\n"
        )
        text += _table(
            ["Relay", "p50 ms", "p99 ms", "p99.9 ms", "Lost"],
            [
                [n, f["p50_ms"], f["p99_ms"], f["p999_ms"], f["lost"] + f["stale"]]
                for n, f in half.items()
                if isinstance(f, dict)
            ],
        )
    return text


def _workload_b(results: dict[str, Any]) -> str:
    b = results.get("B")
    if not b:
        return ""
    rows = [
        [name, f["connections"], f["failures"], f["rss_mb"], f["per_connection_kb"], f["idle_cpu_percent"]]
        for name, counts in b.items()
        for f in counts.values()
    ]
    return (
        "\n## Workload B: presence\n\n"
        + (
            "Idle agents connected to one server process (the product: `/ws/v1/hello` with a bearer token; R1: an idle "
            "path answering pings), each sending a heartbeat every 20 s. Memory per connection is the growth of the "
            "process's resident set divided by the connections; idle CPU is over 10 s with the heartbeats running.\n\n"
        )
        + _table(["Server", "Connections", "Failed", "RSS MB", "KiB per connection", "Idle CPU %"], rows)
    )


def _workload_c(results: dict[str, Any]) -> str:
    c = results.get("C")
    if not c:
        return ""
    return (
        "\n## Workload C: Redis restarted mid-run\n\n"
        + (
            f"{c['rate']} session setups a second on the product; a third of the way in, the benchmark's Redis is "
            "killed and started again (empty: it keeps nothing on disk). Clients follow signaling.js: reconnect with "
            "back-off, `resume` with their last sequence number, then send what they queued.\n\n"
        )
        + _table(
            [
                "Redis down for s",
                "Relaying recovered after s",
                "Longest gap s",
                "Sent",
                "Delivered",
                "Lost",
                "Dropped as already seen",
                "Reconnects",
                "Resyncs",
                "Protocol errors",
            ],
            [
                [
                    c["restart_s"],
                    c["recovery_s"],
                    c["longest_gap_s"],
                    c["sent"],
                    c["delivered"],
                    c["lost"],
                    c["stale"],
                    c["reconnects"],
                    c["resyncs"],
                    c["errors"],
                ]
            ],
        )
        + (
            "\nRecovery is from the moment Redis is killed to the first delivery of a message sent after it. "
            '"Dropped as already seen" are messages numbered before the client\'s `resume` reached a new connection '
            "(a race the `resync` that follows covers); they are counted in Lost too. Lost "
            "messages are those in flight while Redis was down: the pub/sub channel layer delivers at most once.\n"
        )
    )


def _workload_d(results: dict[str, Any]) -> str:
    d = results.get("D")
    if not d:
        return ""
    rows = [
        [
            name,
            d[name]["rps"],
            d[name]["per_core"],
            d[name]["p50_ms"],
            d[name]["p99_ms"],
            d[name]["errors"],
            d["queries"].get({"list": "list_50"}.get(name, name), ""),
        ]
        for name in ("trivial", "list", "create")
    ]
    return (
        "\n## Workload D: API\n\n"
        + (
            "Closed loop, 16 concurrent keep-alive clients, against one server process: a trivial DRF view in the same "
            "process (no authentication, no database), `GET /api/v1/sessions` (50 items, bearer token) and "
            "`POST /api/v1/sessions`. Queries are counted with Django's test client against the same database.\n\n"
        )
        + _table(["Endpoint", "Requests/s", "Requests per CPU-s", "p50 ms", "p99 ms", "Errors", "SQL queries"], rows)
    )


METHOD = """
## How it is measured, and how to reproduce it

```
make bench                                      # everything: about 9 minutes on 2 cores; rewrites this file
.venv/bin/python -m bench.run --only A,D        # some workloads (A with the sweep, B, C, D)
.venv/bin/python -m bench.run --render var/bench/results.json   # rewrite this file from a run's raw figures
```

It needs PostgreSQL (`BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/bench_connect`; dropped
and recreated) and `redis-server` on the PATH; the harness starts its own Redis on a free port, the baselines, and
the product with production settings (debug off, PostgreSQL, the Redis pub/sub channel layer). Raw figures are in
`var/bench/results.json`; server logs in `var/bench/`.

- **R1** (`bench/relay.py`): the `websockets` library, one process, in-memory routing; compression and keepalive
  off. **R2**: the same relay as two processes routing through Redis PUBLISH/SUBSCRIBE.
- **The product**: sessions are created and joined through `/api/v1`, the customer consents over the WebSocket,
  then the pairs run the workload. Agents connect with a bearer token, customers with their session token.
- **Load** (`bench/loadgen.py`): separate processes on uvloop, each holding both ends of its pairs, so one-way
  latency is read on one monotonic clock. Every message carries its sender's sequence number; a message that never
  arrives, or that the product's client would drop as already seen, counts as lost.
- `make test` runs the harness at tiny sizes (`bench/tests`), checking that it runs and counts; no test asserts a
  timing.
"""
