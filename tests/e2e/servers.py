"""Real processes for end-to-end tests: the product served as in production (``python -m connect.serve``) on its
own database, coturn, and the HTTP and WebSocket clients that talk to them over 127.0.0.1.

The processes, the waits and the clients are the ones the benchmark uses too (tests/support/servers.py); what is
here is what only the suites need: a fresh database with Acme for each server, and skipping without services.

Nothing here uses pytest-django's test database: each server process gets a database of its own, either an
SQLite file in a temporary directory (embedded mode) or a fresh PostgreSQL database shared by several processes
together with Redis (shared mode). Every wait is bounded, and every process started here is stopped, and every
database created here dropped, when its context manager exits, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.servers import (
    CLOSE_ABNORMAL,
    INCIDENTAL,
    PYTHON,
    REPO,
    START_TIMEOUT,
    Coturn,
    SignalingSocket,
    free_port,
    http_json,
    launch,
    manage,
    postgres_database,
    running_coturn,
    serve_command,
    stop,
    stop_all,
    tail,
    wait_healthy,
)

__all__ = [
    "CLOSE_ABNORMAL",
    "INCIDENTAL",
    "OWNER_EMAIL",
    "OWNER_PASSWORD",
    "PYTHON",
    "REPO",
    "Coturn",
    "Server",
    "SignalingSocket",
    "embedded_var_dir",
    "free_port",
    "http_json",
    "manage",
    "postgres_database",
    "prepare_database",
    "prepare_embedded",
    "require_services",
    "running_coturn",
    "running_server",
    "running_servers",
    "server_env",
]

OWNER_EMAIL = "alice@acme.test"
OWNER_PASSWORD = "e2e-" + secrets.token_urlsafe(16)
ORG_NAME = "Acme Inc"
ORG_SLUG = "acme"
OWNER_NAME = "Alice Agent"

SERVICES_REASON = "needs DATABASE_URL (PostgreSQL) and REDIS_URL; .ci/run sets them"
# Variables the product reads; a server process starts from none of the test run's own values for them.
PRODUCT_ENV_PREFIXES = ("DJANGO_", "CONNECT_", "CELERY_", "DATABASE_", "REDIS_", "EMAIL_", "ACCOUNT_")
SQLITE_FILE = "connect.sqlite3"


def require_services() -> tuple[str, str]:
    """``(DATABASE_URL, REDIS_URL)`` for the shared mode; skip without them (fail with CONNECT_REQUIRE_E2E=1)."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if urlsplit(database_url).scheme in ("postgres", "postgresql", "pgsql") and redis_url:
        return database_url, redis_url
    if os.environ.get("CONNECT_REQUIRE_E2E") == "1":
        pytest.fail(SERVICES_REASON + " (CONNECT_REQUIRE_E2E=1 makes this a failure)", pytrace=False)
    pytest.skip(SERVICES_REASON)


# --- Environments and databases -------------------------------------------------------------------------


def server_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server process: the test run's own, minus every product variable, plus ``settings``.

    Without DATABASE_URL and REDIS_URL the product runs embedded: SQLite in ``var_dir``, in-memory channel layer.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(PRODUCT_ENV_PREFIXES)}
    env.update(
        CONNECT_VAR_DIR=str(var_dir),
        DJANGO_DEBUG="true",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Shared by every process of one deployment (as it would be in production).
        DJANGO_SECRET_KEY="e2e-" + secrets.token_urlsafe(40),
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrate the database ``env`` names and create Acme with its owner, alice."""
    manage(env, "migrate", "--noinput")
    manage(
        env,
        "create_org",
        ORG_NAME,
        "--slug",
        ORG_SLUG,
        "--owner",
        OWNER_EMAIL,
        "--owner-name",
        OWNER_NAME,
        "--password",
        OWNER_PASSWORD,
        # Sized for the suites: the concurrency test invites a hundred agents and opens as many sessions.
        "--plan",
        "enterprise",
        "--seats",
        "250",
    )


def prepare_embedded(var_dir: Path) -> Path:
    """An SQLite database with Acme in ``var_dir``, to be copied for each server (migrating takes seconds)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    prepare_database(server_env(var_dir))
    return var_dir / SQLITE_FILE


def embedded_var_dir(template: Path, var_dir: Path) -> Path:
    """A fresh var directory holding a copy of the prepared SQLite database ``template``."""
    var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, var_dir / SQLITE_FILE)
    return var_dir


# --- Server processes -----------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process (``python -m connect.serve``) serving the product on 127.0.0.1."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.base_url

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)

    def call(self, method: str, path: str, body: dict | None = None, *, token: str | None = None) -> tuple[int, Any]:
        return http_json(method, self.base_url + path, body, token=token)

    async def api(
        self, method: str, path: str, body: dict | None = None, *, token: str | None = None, expect: int = 200
    ) -> Any:
        """A request from async code (in a thread, so the event loop keeps running); asserts the status."""
        status, data = await asyncio.to_thread(self.call, method, path, body, token=token)
        assert status == expect, f"{method} {path} on {self.name}: {status} {data}"
        return data


def _launch(name: str, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    log = log_dir / f"{name}.log"
    return Server(name=name, port=port, process=launch(serve_command(port), env, log), log=log)


def _wait_healthy(server: Server) -> bool:
    remaining = server.started + START_TIMEOUT - time.monotonic()
    return wait_healthy(server.port, timeout=max(remaining, 0.1), process=server.process)


@contextmanager
def running_servers(names: list[str], env: dict[str, str], log_dir: Path) -> Iterator[list[Server]]:
    """One ``python -m connect.serve`` per name, each on a free port, started side by side and
    answering ``/healthz``; all stopped on exit, and their logs printed (pytest shows them when a test failed).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    launched: list[Server] = []
    try:
        launched.extend(_launch(name, env, log_dir) for name in names)
        ready = []
        for server in launched[: len(names)]:
            attempts = 1
            while not _wait_healthy(server):
                stop(server.process)
                # Another program may have taken the free port before the server bound it: try another.
                if attempts == 3 or "address already in use" not in server.log.read_text(errors="replace").lower():
                    raise RuntimeError(
                        f"{server.name} did not answer /healthz within {START_TIMEOUT:.0f} s:\n{server.log_tail()}"
                    )
                server = _launch(server.name, env, log_dir)
                launched.append(server)
                attempts += 1
            ready.append(server)
        yield ready
    finally:
        stop_all(server.process for server in launched)
        for server in launched:
            print(f"--- {server.name} (port {server.port}), last lines of its log ---\n{server.log_tail()}")


@contextmanager
def running_server(name: str, env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    """One server process; see :func:`running_servers`."""
    with running_servers([name], env, log_dir) as (server,):
        yield server
