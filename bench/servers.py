"""Processes the benchmark starts: a Redis of its own, the product's database, the baselines and the product."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "bench"
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit() -> None:
    """In a child process: as many open files as the hard limit allows (10,000 connections need more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


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
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        argv, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_fd_limit
    )


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
    """A fresh database for this run, migrated."""
    name = database_url.rsplit("/", 1)[1]
    admin = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["dropdb", *admin, "--if-exists", "--force", name], check=True, capture_output=True)
    subprocess.run(["createdb", *admin, name], check=True, capture_output=True)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=product_env(database_url, redis_url),
        check=True,
        capture_output=True,
    )


def manage(database_url: str, redis_url: str, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=product_env(database_url, redis_url), capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


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
            argv = [PYTHON, "-m", "connect.serve", "--port", str(port)]
        elif server == "daphne":
            argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "connect.asgi:application"]
        else:
            raise ValueError(f"unknown server {server!r}")
        group.processes.append(_spawn(f"{name}-{port}", argv, env))
    for port in group.ports:
        _wait_healthy(port)
    return group


def _wait_healthy(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the product on port {port} did not become healthy; see {LOGS}")


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())
