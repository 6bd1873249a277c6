"""``make bench``: measure the product against two baseline relays in one run, and write docs/performance.md.

    python -m bench.run            # the full run (about 8 minutes on 2 cores)
    python -m bench.run --quick    # tiny sizes: checks that the harness runs and counts (used by the test suite)

Needs PostgreSQL (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/bench_connect; the database is
dropped and recreated) and ``redis-server`` on the PATH (the harness starts its own, on a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import math
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from . import report, servers
from .loadgen import MESSAGES_PER_EXCHANGE
from .report import KNEE_P99_MS, PRODUCT


@dataclass
class Config:
    quick: bool
    sizes: list[int]
    sweep_rates: list[int]  # session setups (exchanges) started per second
    sweep_seconds: float
    sweep_pool: int
    idle_counts: list[int]
    fault_seconds: float
    api_seconds: float
    workers: int


FULL = Config(
    False,
    [100, 500, 2000],
    [20, 40, 55, 70, 85, 100, 120, 140, 200, 280, 400, 560],
    3.0,
    600,
    [5000, 10000],
    9.0,
    5.0,
    2,
)
QUICK = Config(True, [3], [5, 10], 1.0, 6, [20], 4.0, 1.0, 1)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)  # nearest rank: the smallest sample with at least p% of the samples at or below it
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- load generator workers ------------------------------------------------------------------------------------


class Workers:
    """Load-generator processes (bench/loadgen.py), each holding a share of the pairs."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"],
                cwd=servers.ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=servers.raise_fd_limit,
            )
            for _ in specs
        ]
        for process, spec in zip(self.processes, specs, strict=True):
            process.stdin.write(json.dumps(spec) + "\n")
            process.stdin.flush()
        self.ready = [self._line(p) for p in self.processes]

    @staticmethod
    def _line(process: subprocess.Popen) -> dict[str, Any]:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a load generator exited with {process.wait()}")
        return json.loads(line)

    def command(self, text: str) -> list[dict[str, Any]]:
        for process in self.processes:
            process.stdin.write(text + "\n")
            process.stdin.flush()
        return [self._line(p) for p in self.processes]

    def close(self) -> None:
        for process in self.processes:
            try:
                process.stdin.write("exit\n")
                process.stdin.flush()
            except BrokenPipeError:
                pass
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- targets: what a pair connects to ---------------------------------------------------------------------------


def relay_pairs(group: servers.Group, count: int, tag: str) -> list[dict[str, Any]]:
    first, last = group.ports[0], group.ports[-1]
    return [
        {
            "key": f"{tag}{i}",
            "a_url": f"ws://127.0.0.1:{first}/{tag}{i}/a",
            "b_url": f"ws://127.0.0.1:{last}/{tag}{i}/b",
        }
        for i in range(count)
    ]


def product_pairs(group: servers.Group, sessions: list[dict[str, str]], token: str) -> list[dict[str, Any]]:
    first, last = group.ports[0], group.ports[-1]
    return [
        {
            "key": f"s{i}",
            "a_url": f"ws://127.0.0.1:{first}/ws/v1/sessions/{s['id']}",
            "a_headers": {"Authorization": f"Bearer {token}"},
            "b_url": f"ws://127.0.0.1:{last}/ws/v1/sessions/{s['id']}?customer_token={s['customer_token']}",
        }
        for i, s in enumerate(sessions)
    ]


class Pool:
    """Connected pairs spread over the workers; steps of exchanges run on them."""

    def __init__(
        self,
        group: servers.Group,
        pairs: list[dict[str, Any]],
        *,
        flavour: str,
        workers: int,
        reconnect: bool = False,
        redis: servers.Redis | None = None,
    ) -> None:
        self.group, self.redis = group, redis
        self.count = len(pairs)
        workers = max(1, min(workers, len(pairs)))
        self.shares = [list(range(w, len(pairs), workers)) for w in range(workers)]
        origin = f"http://127.0.0.1:{group.ports[0]}"
        specs = [
            {
                "mode": "pairs",
                "flavour": flavour,
                "origin": origin,
                "reconnect": reconnect,
                "pairs": [pairs[i] for i in share],
            }
            for share in self.shares
        ]
        self.workers = Workers(specs)
        connections = sum(r["connections"] for r in self.workers.ready)
        self.connect = {
            "connections": connections,
            "seconds": max(r["connect_seconds"] for r in self.workers.ready),
        }
        self.connect["per_second"] = connections / self.connect["seconds"]

    def step(self, schedule: list[tuple[int, float]], during: Callable[[float], dict] | None = None) -> dict[str, Any]:
        """Run ``schedule`` (pair index, start offset) and measure it."""
        local: list[list[tuple[int, float]]] = [[] for _ in self.shares]
        where = {pair: (w, j) for w, share in enumerate(self.shares) for j, pair in enumerate(share)}
        for pair, offset in schedule:
            w, j = where[pair]
            local[w].append((j, offset))
        cpu0, redis0, own0 = self.group.cpu_seconds(), _redis_cpu(self.redis), time.monotonic()
        t0 = time.monotonic() + 0.3
        side: dict[str, Any] = {}
        thread = None
        if during is not None:
            thread = threading.Thread(target=lambda: side.update(during(t0)))
            thread.start()
        for process, share in zip(self.workers.processes, local, strict=True):
            process.stdin.write(f"go {t0} {json.dumps(share)}\n")
            process.stdin.flush()
        results = [self.workers._line(p) for p in self.workers.processes]
        if thread is not None:
            thread.join()
        cpu = self.group.cpu_seconds() - cpu0
        deliveries = [d for r in results for d in r["deliveries"]]
        latencies = [(recv - sent) / 1e6 for sent, recv in deliveries]
        sent = sum(r["sent"] for r in results)
        span = (max(d[1] for d in deliveries) / 1e9 - t0) if deliveries else 0.0
        figures = {
            "exchanges": len(schedule),
            "sent": sent,
            "delivered": len(deliveries),
            "lost": sum(r["lost"] for r in results),
            "stale": sum(r["stale"] for r in results),
            "duplicates": sum(r["duplicates"] for r in results),
            "resyncs": sum(r["resyncs"] for r in results),
            "reconnects": sum(r["reconnects"] for r in results),
            "errors": sum(r["error_count"] for r in results),
            "error_codes": sorted({c for r in results for c in r["errors"]}),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "p999_ms": percentile(latencies, 99.9),
            "server_cpu_s": cpu,
            "redis_cpu_s": _redis_cpu(self.redis) - redis0,
            "wall_s": time.monotonic() - own0,
            "span_s": span,
            "per_core": len(deliveries) / cpu if cpu > 0 else float("nan"),
            **side,
        }
        if during is not None:
            figures["deliveries"] = deliveries
        return figures

    def close(self) -> None:
        self.workers.close()


def _redis_cpu(redis: servers.Redis | None) -> float:
    return redis.cpu_seconds() if redis is not None else 0.0


def burst_schedule(count: int) -> list[tuple[int, float]]:
    """Workload A: every pair sets up once, the starts spread over the first second."""
    rng = random.Random(count)
    return [(i, rng.uniform(0, 1.0)) for i in range(count)]


def rate_schedule(pool: int, rate: float, seconds: float) -> list[tuple[int, float]]:
    """``rate`` session setups a second for ``seconds``, round-robin over the pool's pairs. Starts are independent
    (uniform over the window, as arrivals of separate customers are): starts on a fixed grid would line every
    session's 50 ms candidate ticks up into bursts, and the latency measured would be that of the bursts."""
    rng = random.Random(int(rate * 1000 + seconds))
    starts = sorted(rng.uniform(0, seconds) for _ in range(int(rate * seconds)))
    return [(i % pool, start) for i, start in enumerate(starts)]


# --- the workloads ----------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.results: dict[str, Any] = {"targets": {}}
        self.redis = servers.Redis()
        self.database_url = os.environ.get(
            "BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/bench_connect" + ("_quick" if config.quick else ""),
        )
        self.groups: list[servers.Group] = []
        self.only_targets: set[str] = set()

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    # setup

    def setup(self) -> None:
        self.redis.start()
        self.log("database: migrating a fresh one")
        servers.prepare_database(self.database_url, self.redis.url)
        password = "bench-" + os.urandom(8).hex()
        env = {"CONNECT_OWNER_PASSWORD": password}
        os.environ.update(env)
        servers.manage(
            self.database_url,
            self.redis.url,
            "create_org",
            "Bench",
            "--owner",
            "agent@bench.test",
            "--plan",
            "enterprise",  # no live-session cap: the benchmark holds hundreds open at once
        )
        self.env = servers.product_env(self.database_url, self.redis.url)
        self.password = password
        group = self.product("setup", "serve", 1)
        base = f"http://127.0.0.1:{group.ports[0]}"
        self.login(base)
        wanted = max(max(self.config.sizes), self.config.sweep_pool, 50)  # workload D lists 50
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            self.sessions = list(pool.map(lambda i: self._session(base, i), range(wanted)))
        self.log(f"created and joined {wanted} sessions through the API in {time.perf_counter() - started:.1f} s")
        self.stop(group)

    def login(self, base: str | None = None) -> None:
        """A fresh access token for the agent (they last 15 minutes; the run may outlast one)."""
        group = None
        if base is None:
            group = self.product("login", "serve", 1)
            base = f"http://127.0.0.1:{group.ports[0]}"
        answer = servers.http_json(
            "POST",
            base + "/api/v1/auth/token",
            {"email": "agent@bench.test", "password": self.password, "device": {"name": "bench", "platform": "linux"}},
        )
        self.token = answer["access_token"]
        if group is not None:
            self.stop(group)

    def _session(self, base: str, i: int) -> dict[str, str]:
        session = servers.http_json("POST", base + "/api/v1/sessions", {"customer_name": f"Customer {i}"}, self.token)
        joined = servers.http_json("POST", base + "/api/v1/join", {"code": session["code"], "name": f"Customer {i}"})
        return {"id": joined["session_id"], "customer_token": joined["customer_token"]}

    def product(self, name: str, server: str, processes: int) -> servers.Group:
        group = servers.start_product(name, server, processes, self.env)
        self.groups.append(group)
        return group

    def stop(self, group: servers.Group) -> None:
        group.stop()
        self.groups.remove(group)

    def targets(self) -> list[tuple[str, Callable[[], servers.Group], str]]:
        """(name, start, flavour) of every relay measured side by side."""
        every = [
            ("R1", lambda: servers.start_relay("R1", 1), "relay"),
            ("R2", lambda: servers.start_relay("R2", 2, self.redis.url), "relay"),
            (PRODUCT, lambda: self.product(PRODUCT, "serve", 2), "product"),
            # The same product under daphne, for the choice of ASGI server (the sweep only: the run has 10 minutes).
            ("product-daphne", lambda: self.product("product-daphne", "daphne", 2), "product"),
        ]
        return [t for t in every if not self.only_targets or t[0] in self.only_targets | {"R2"}]

    def pairs_for(self, name: str, group: servers.Group, count: int, tag: str) -> list[dict[str, Any]]:
        if name.startswith("product"):
            return product_pairs(group, self.sessions[:count], self.token)
        return relay_pairs(group, count, tag)

    # workload A and the capacity sweep

    def relaying(self) -> None:
        results = self.results.setdefault("A", {})
        sweeps = self.results.setdefault("sweep", {})
        for name, start, flavour in self.targets():
            if flavour == "product":
                self.login()
            group = start()
            for size in self.config.sizes if name != "product-daphne" else []:
                pool = Pool(
                    group,
                    self.pairs_for(name, group, size, f"a{size}x"),
                    flavour=flavour,
                    workers=self.config.workers,
                    redis=self.redis,
                )
                figures = pool.step(burst_schedule(size))
                figures["connect"] = pool.connect
                pool.close()
                results.setdefault(name, {})[size] = figures
                self.log(f"A {name} N={size}: {_brief(figures)}; {pool.connect['per_second']:.0f} connections/s")
            sweeps[name] = self.sweep(name, group, flavour)
            if name == "R2":
                self.r2 = group  # kept for the latency comparison at the product's half capacity
            else:
                group.stop()
        self.half_capacity()
        self.r2.stop()

    def sweep(self, name: str, group: servers.Group, flavour: str) -> dict[str, Any]:
        size = self.config.sweep_pool
        pool = Pool(
            group,
            self.pairs_for(name, group, size, "k"),
            flavour=flavour,
            workers=self.config.workers,
            redis=self.redis,
        )
        steps = []
        for rate in self.config.sweep_rates:
            figures = pool.step(rate_schedule(size, rate, self.config.sweep_seconds))
            figures["offered_per_s"] = rate * MESSAGES_PER_EXCHANGE
            figures["delivered_per_s"] = figures["delivered"] / self.config.sweep_seconds
            figures["rate"] = rate
            steps.append(figures)
            self.log(f"sweep {name} {rate} setups/s: {_brief(figures)}")
            if figures["p99_ms"] > KNEE_P99_MS or figures["lost"]:
                break
        pool.close()
        passing = [s for s in steps if s["p99_ms"] <= KNEE_P99_MS and not s["lost"]]
        knee = passing[-1] if passing else None
        return {"steps": steps, "knee": knee, "saturated": len(passing) == len(steps)}

    def half_capacity(self) -> None:
        """p99 of the product and of R2 at the same load: half the product's capacity."""
        knee = self.results["sweep"][PRODUCT]["knee"]
        rate = max(1, (knee["rate"] if knee else self.config.sweep_rates[0]) // 2)
        out = self.results.setdefault("half", {"rate": rate, "messages_per_s": rate * MESSAGES_PER_EXCHANGE})
        out["R2"] = self._steady("R2", self.r2, "relay", rate)
        self.login()
        group = self.product(PRODUCT, "serve", 2)
        out[PRODUCT] = self._steady(PRODUCT, group, "product", rate)
        self.stop(group)

    def _steady(self, name: str, group: servers.Group, flavour: str, rate: int) -> dict[str, Any]:
        pool = Pool(
            group,
            self.pairs_for(name, group, self.config.sweep_pool, "h"),
            flavour=flavour,
            workers=self.config.workers,
            redis=self.redis,
        )
        figures = pool.step(rate_schedule(self.config.sweep_pool, rate, self.config.sweep_seconds * 2))
        pool.close()
        self.log(f"half capacity {name} at {rate} setups/s: {_brief(figures)}")
        return figures

    # workload B

    def presence(self) -> None:
        out = self.results.setdefault("B", {})
        self.login()
        agent = {"Authorization": f"Bearer {self.token}"}
        every = self.config.idle_counts
        for name, start, url, headers, counts in (
            ("R1", lambda: servers.start_relay("R1-idle", 1), "/idle/{i}", {}, every),
            (PRODUCT, lambda: self.product("idle", "serve", 1), "/ws/v1/hello", agent, every),
        ):
            group = start()
            port = group.ports[0]
            time.sleep(1.0)
            base_rss = group.rss_bytes()
            held: list[Workers] = []
            total = 0
            for count in counts:
                adding = count - total
                per_worker = -(-adding // 4)
                specs = []
                for w in range(4):
                    n = min(per_worker, adding - w * per_worker)
                    if n > 0:
                        specs.append(
                            {
                                "mode": "idle",
                                "count": n,
                                "url": f"ws://127.0.0.1:{port}{url}",
                                "headers": headers,
                                "origin": f"http://127.0.0.1:{port}",
                                "heartbeat": 20.0,
                            }
                        )
                workers = Workers(specs)
                held.append(workers)
                connected = sum(r["connected"] for r in workers.ready)
                total += connected
                time.sleep(2.0)
                cpu0 = group.cpu_seconds()
                window = 2.0 if self.config.quick else 10.0
                time.sleep(window)
                idle_cpu = (group.cpu_seconds() - cpu0) / window
                rss = group.rss_bytes()
                figures = {
                    "connections": total,
                    "failures": sum(len(r["failures"]) for r in workers.ready),
                    "rss_mb": rss / 2**20,
                    "per_connection_kb": (rss - base_rss) / total / 1024 if total else float("nan"),
                    "idle_cpu_percent": idle_cpu * 100,
                    "alive": all(p.poll() is None for p in group.processes),
                }
                out.setdefault(name, {})[count] = figures
                self.log(f"B {name} {count}: {figures}")
            for workers in held:
                for process in workers.processes:
                    process.stdin.write("stop\n")
                    process.stdin.flush()
                for process in workers.processes:
                    process.wait(30)
            group.stop()

    # workload C

    def fault(self) -> None:
        self.login()
        group = self.product("fault", "serve", 2)
        size = min(200, self.config.sweep_pool)
        pool = Pool(
            group,
            self.pairs_for(PRODUCT, group, size, "f"),
            flavour="product",
            workers=self.config.workers,
            reconnect=True,
            redis=self.redis,
        )
        rate = 20 if not self.config.quick else 5

        def restart_redis(t0: float) -> dict[str, float]:
            time.sleep(max(0.0, t0 + self.config.fault_seconds / 3 - time.monotonic()))
            down = time.monotonic()
            self.redis.kill()
            self.redis.start()
            return {"down_at": down, "up_at": time.monotonic()}

        figures = pool.step(rate_schedule(size, rate, self.config.fault_seconds), during=restart_redis)
        pool.close()
        self.stop(group)
        deliveries = sorted(figures.pop("deliveries"), key=lambda d: d[1])
        down_ns = figures["down_at"] * 1e9
        after = [d for d in deliveries if d[0] > down_ns]
        figures["recovery_s"] = (after[0][1] - down_ns) / 1e9 if after else float("inf")
        gaps = [(b[1] - a[1]) / 1e9 for a, b in zip(deliveries, deliveries[1:], strict=False)]
        figures["longest_gap_s"] = max(gaps, default=0.0)
        figures["restart_s"] = figures["up_at"] - figures["down_at"]
        figures["rate"] = rate
        self.results["C"] = figures
        self.log(f"C: {_brief(figures)}; recovery {figures['recovery_s']:.2f} s")

    # workload D

    def api(self) -> None:
        from .workload_api import run_api_workload

        self.login()
        group = self.product("api", "serve", 1)
        base = f"http://127.0.0.1:{group.ports[0]}"
        figures = asyncio.run(
            run_api_workload(
                base,
                self.token,
                group.pids,
                duration=self.config.api_seconds,
                concurrency=16,
                warmup=0.5 if self.config.quick else 1.0,
            )
        )
        self.stop(group)
        queries = subprocess.run(
            [sys.executable, "-m", "bench.api_queries", self.token],
            cwd=servers.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures["queries"] = json.loads(queries.stdout.strip().splitlines()[-1])
        self.results["D"] = figures
        self.log(f"D: {json.dumps({k: v for k, v in figures.items() if not isinstance(v, dict)})}")

    def machine(self) -> dict[str, Any]:
        import channels
        import daphne
        import django
        import uvicorn
        import websockets

        pg = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"], capture_output=True, text=True
        ).stdout.strip()
        redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
        return {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": _cpu_model(),
            "cores": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(),
            "python": platform.python_version(),
            "versions": {
                "django": django.__version__,
                "channels": channels.__version__,
                "daphne": daphne.__version__,
                "uvicorn": uvicorn.__version__,
                "websockets": websockets.__version__,
                "postgresql": pg,
                "redis": redis.removeprefix("v="),
            },
        }

    def close(self) -> None:
        for group in list(self.groups):
            group.stop()
        self.redis.kill()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _brief(f: dict[str, Any]) -> str:
    return (
        f"{f['delivered']}/{f['sent']} delivered, lost {f['lost']}, p50 {f['p50_ms']:.1f} ms, "
        f"p99 {f['p99_ms']:.1f} ms, {f['per_core']:.0f} msg per server CPU-s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks: docs/performance.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes; checks the harness only")
    parser.add_argument("--out", default="docs/performance.md")
    parser.add_argument("--json", default="var/bench/results.json")
    parser.add_argument("--only", default="A,B,C,D", help="workloads to run (comma-separated)")
    parser.add_argument("--sizes", default="", help="workload A's N values, e.g. 100,500 (default 100,500,2000)")
    parser.add_argument("--targets", default="", help="relays for A and the sweep, e.g. R2,product")
    parser.add_argument("--render", metavar="JSON", help="only rewrite --out from a run's saved results")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text())
        Path(args.out).write_text(report.render(results))
        return 0
    config = QUICK if args.quick else FULL
    if args.sizes:
        config = dataclasses.replace(config, sizes=[int(n) for n in args.sizes.split(",")])
    bench = Bench(config)
    bench.only_targets = set(filter(None, args.targets.split(",")))
    started = time.monotonic()
    try:
        bench.results["machine"] = bench.machine()
        bench.setup()
        only = set(args.only.split(","))
        if "A" in only:
            bench.relaying()
        if "B" in only:
            bench.presence()
        if "C" in only:
            bench.fault()
        if "D" in only:
            bench.api()
    finally:
        bench.close()
    bench.results["elapsed_s"] = time.monotonic() - started
    bench.results["quick"] = args.quick
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(bench.results, indent=1, default=str))
    Path(args.out).write_text(report.render(bench.results))
    bench.log(f"wrote {args.out} and {args.json} in {bench.results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
