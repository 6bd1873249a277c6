"""Processes the benchmark starts: a Redis of its own, the product's database, the baselines and the product.

Ports, process start and stop, readiness and the product's command line come from tests/support/servers.py, which
the end-to-end suites use too: the benchmark measures the product started exactly as those suites test it.
"""

from __future__ import annotations

import os
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support import servers as shared
from tests.support.servers import PYTHON, free_port, wait_for_port

__all__ = ["PYTHON", "free_port", "wait_for_port"]

ROOT = shared.REPO
LOGS = ROOT / "var" / "bench"
BIN = Path(PYTHON).parent


def raise_fd_limit() -> None:
    """In a child process: as many open files as the hard limit allows (10,000 connections need more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Group:
    """Server processes measured together."""

    name: str
    ports: list[int]
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_bytes(self) -> int:
        return sum(psutil.Process(pid).memory_info().rss for pid in self.pids)

    def stop(self) -> None:
        shared.stop_all(self.processes)


def _spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return shared.launch(argv, env or os.environ.copy(), LOGS / f"{name}.log", append=True, preexec_fn=raise_fd_limit)


class Redis:
    """A redis-server of the benchmark's own, so it can be restarted (workload C) without touching anyone else's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = _spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "20000",
            ],
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def cpu_seconds(self) -> float:
        if self.process is None:
            return 0.0
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system


def product_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Production settings (debug off, PostgreSQL, Redis pub/sub channel layer), plus the benchmark's one URL."""
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "k" * 60,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        CONNECT_RECONNECT_GRACE_SECONDS="3600",  # clients vanish at the end of each run; nothing should fire mid-run
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    return env


def prepare_database(database_url: str, redis_url: str) -> None:
    """A fresh database for this run (one of that name is dropped first), migrated."""
    shared.create_database(database_url, replace=True)
    manage(database_url, redis_url, "migrate", "--noinput")


def manage(database_url: str, redis_url: str, *args: str) -> str:
    return shared.manage(product_env(database_url, redis_url), *args)


def start_relay(name: str, processes: int, redis_url: str | None = None, drop_every: int = 0) -> Group:
    group = Group(name, [free_port() for _ in range(processes)])
    for port in group.ports:
        argv = [PYTHON, "-m", "bench.relay", "--port", str(port), "--drop-every", str(drop_every)]
        if redis_url:
            argv += ["--redis", redis_url]
        group.processes.append(_spawn(f"{name}-{port}", argv))
    for port in group.ports:
        wait_for_port(port)
    return group


def start_product(name: str, server: str, processes: int, env: dict[str, str]) -> Group:
    """``server`` is ``serve`` (``python -m connect.serve``, as production runs it) or ``daphne``."""
    group = Group(name, [free_port() for _ in range(processes)])
    for port in group.ports:
        if server == "serve":  # production's entry point
            argv = shared.serve_command(port)
        elif server == "daphne":
            argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "connect.asgi:application"]
        else:
            raise ValueError(f"unknown server {server!r}")
        group.processes.append(_spawn(f"{name}-{port}", argv, env))
    for port, process in zip(group.ports, group.processes, strict=True):
        if not shared.wait_healthy(port, timeout=60.0, process=process):  # a process that exited fails at once
            group.stop()
            raise RuntimeError(f"the product on port {port} did not become healthy; see {LOGS / f'{name}-{port}.log'}")
    return group


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    """One JSON request whose answer must be a success: the harness cannot go on without it."""
    status, data = shared.http_json(method, url, body, token=token, timeout=30)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {url} answered {status}: {str(data)[:500]}")
    return data
