"""Workload D: the REST API under concurrent load, against the trivial DRF view in the same server process.

Three cases, run one after the other against a live server:

* ``trivial``: ``GET /bench/trivial`` (no auth), the baseline: DRF's own cost plus the product middleware;
* ``list``: ``GET /api/v1/sessions?limit=50`` with a bearer token (the product paginates with DRF's
  ``LimitOffsetPagination``, so the page size is ``limit``; ``page_size`` would be ignored);
* ``create``: ``POST /api/v1/sessions`` with ``{"customer_name": "Bench"}``.

Each case runs closed-loop: ``concurrency`` workers on one keep-alive ``aiohttp`` session each send a request as
soon as their previous one is answered, for ``warmup`` seconds (discarded) and then ``duration`` seconds measured.
For the measured window it reports requests completed (2xx only), non-2xx errors, p50/p99 latency, requests per
second, the server's CPU seconds (user + system over ``server_pids``) and requests per server CPU-second ("per
core"), and the load generator's own CPU seconds: a client near 1 CPU-second per second is saturated, and then
the rps figures measure the client rather than the server.

This module is a client only: it does not need Django.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil

LIST_PAGE_SIZE = 50
CREATE_BODY = {"customer_name": "Bench"}
ERROR_BODY_CHARS = 300


@dataclass
class _Case:
    name: str
    method: str
    path: str
    auth: bool
    json: dict[str, Any] | None = None


CASES = (
    _Case("trivial", "GET", "/bench/trivial", auth=False),
    _Case("list", "GET", f"/api/v1/sessions?limit={LIST_PAGE_SIZE}", auth=True),
    _Case("create", "POST", "/api/v1/sessions", auth=True, json=CREATE_BODY),
)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def _percentile_ms(sorted_seconds: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_seconds:
        return None
    rank = min(max(1, math.ceil(fraction * len(sorted_seconds))), len(sorted_seconds))
    return round(sorted_seconds[rank - 1] * 1000, 2)


async def _request(
    http: aiohttp.ClientSession, case: _Case, base_url: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    async with http.request(case.method, base_url + case.path, headers=headers, json=case.json) as response:
        body = await response.read()
        return response.status, body


async def _preflight(http: aiohttp.ClientSession, case: _Case, base_url: str, headers: dict[str, str]) -> None:
    """One request before measuring: it must succeed, and the list must hold a full page."""
    status, body = await _request(http, case, base_url, headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{case.name}: {case.method} {case.path} answered {status}: {body[:ERROR_BODY_CHARS]!r}")
    if case.name == "list":
        results = json.loads(body)["results"]
        if len(results) != LIST_PAGE_SIZE:
            raise RuntimeError(
                f"list: expected {LIST_PAGE_SIZE} items, got {len(results)} (create more sessions first)"
            )


async def _run_case(
    http: aiohttp.ClientSession,
    case: _Case,
    base_url: str,
    token: str,
    servers: list[psutil.Process],
    *,
    duration: float,
    concurrency: int,
    warmup: float,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if case.auth else {}
    await _preflight(http, case, base_url, headers)
    tally = _Tally()
    measuring = False
    stopping = False

    async def worker() -> None:
        while not stopping:
            started = time.perf_counter()
            try:
                status, body = await _request(http, case, base_url, headers)
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, body = 0, repr(exc).encode()
            elapsed = time.perf_counter() - started
            if not measuring or stopping:
                continue
            if 200 <= status < 300:
                tally.latencies.append(elapsed)
            else:
                tally.errors += 1
                if tally.first_error is None:
                    tally.first_error = f"{status}: {body[:ERROR_BODY_CHARS].decode(errors='replace')}"

    me = psutil.Process(os.getpid())
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    server_cpu0, client_cpu0, t0 = _cpu_seconds(servers), _cpu_seconds([me]), time.perf_counter()
    measuring = True
    await asyncio.sleep(duration)
    stopping = True
    server_cpu1, client_cpu1, t1 = _cpu_seconds(servers), _cpu_seconds([me]), time.perf_counter()
    await asyncio.gather(*workers)

    wall = t1 - t0
    server_cpu = server_cpu1 - server_cpu0
    completed = len(tally.latencies)
    latencies = sorted(tally.latencies)
    return {
        "requests": completed,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "p50_ms": _percentile_ms(latencies, 0.50),
        "p99_ms": _percentile_ms(latencies, 0.99),
        "wall_s": round(wall, 3),
        "server_cpu_s": round(server_cpu, 3),
        "client_cpu_s": round(client_cpu1 - client_cpu0, 3),
        "rps": round(completed / wall, 1),
        "per_core": round(completed / server_cpu, 1) if server_cpu > 0 else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


async def run_api_workload(
    base_url: str,
    token: str,
    server_pids: list[int],
    *,
    duration: float = 5.0,
    concurrency: int = 16,
    warmup: float = 1.0,
) -> dict[str, Any]:
    """Run the ``trivial``, ``list`` and ``create`` cases in that order against the server whose processes are
    ``server_pids``, with a bearer ``token`` for the API cases.

    Returns one dict per case, with ``requests`` (2xx completed in the measured window), ``errors`` (non-2xx or
    connection failures) and ``first_error``, ``p50_ms`` and ``p99_ms`` (of the 2xx responses), ``wall_s``,
    ``server_cpu_s``, ``client_cpu_s``, ``rps`` and ``per_core`` (requests per server CPU-second); plus
    ``ratio_list_vs_trivial`` and ``ratio_create_vs_trivial`` (``per_core`` of the case / of ``trivial``).
    Raises ``RuntimeError`` before measuring when a case's first request fails or the list is not 50 items long.
    """
    base_url = base_url.rstrip("/")
    servers = [psutil.Process(pid) for pid in server_pids]
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        for case in CASES:
            results[case.name] = await _run_case(
                http,
                case,
                base_url,
                token,
                servers,
                duration=duration,
                concurrency=concurrency,
                warmup=warmup,
            )
    trivial = results["trivial"]["per_core"]
    results["ratio_list_vs_trivial"] = _ratio(results["list"]["per_core"], trivial)
    results["ratio_create_vs_trivial"] = _ratio(results["create"]["per_core"], trivial)
    return results
