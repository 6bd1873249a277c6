"""Real processes for end-to-end tests: the product served as in production (``python -m connect.serve``) on its
own database, coturn, and the small
HTTP and WebSocket clients that talk to them over 127.0.0.1.

Nothing here uses pytest-django's test database: each server process gets a database of its own, either an
SQLite file in a temporary directory (embedded mode) or a fresh PostgreSQL database shared by several processes
together with Redis (shared mode). Every wait is bounded, and every process started here is stopped, and every
database created here dropped, when its context manager exits, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

OWNER_EMAIL = "alice@acme.test"
OWNER_PASSWORD = "e2e-" + secrets.token_urlsafe(16)
ORG_NAME = "Acme Inc"
ORG_SLUG = "acme"
OWNER_NAME = "Alice Agent"

SERVICES_REASON = "needs DATABASE_URL (PostgreSQL) and REDIS_URL; .ci/run sets them"
# Variables the product reads; a server process starts from none of the test run's own values for them.
PRODUCT_ENV_PREFIXES = ("DJANGO_", "CONNECT_", "CELERY_", "DATABASE_", "REDIS_", "EMAIL_", "ACCOUNT_")
SQLITE_FILE = "connect.sqlite3"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 180.0


def require_services() -> tuple[str, str]:
    """``(DATABASE_URL, REDIS_URL)`` for the shared mode; skip without them (fail with CONNECT_REQUIRE_E2E=1)."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if urlsplit(database_url).scheme in ("postgres", "postgresql", "pgsql") and redis_url:
        return database_url, redis_url
    if os.environ.get("CONNECT_REQUIRE_E2E") == "1":
        pytest.fail(SERVICES_REASON + " (CONNECT_REQUIRE_E2E=1 makes this a failure)", pytrace=False)
    pytest.skip(SERVICES_REASON)


def free_port(*, udp_too: bool = False) -> int:
    """A port nobody listens on at 127.0.0.1 (TCP, and UDP as well when asked)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1")


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen) -> None:
    """Stop one process we started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


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


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py`` with ``env``; its output, or an error that shows it."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n{result.stdout[-4000:]}")
    return result.stdout


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


def _postgres_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/" + database))


@contextmanager
def postgres_database(database_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``database_url``; its URL. Dropped on exit.

    Stop every process that uses it before leaving the block.
    """
    import psycopg
    from psycopg import sql

    name = f"connect_e2e_{secrets.token_hex(6)}"
    maintenance = _postgres_url(database_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- HTTP -----------------------------------------------------------------------------------------------

# No proxy from the environment: traffic stays on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(
    method: str, url: str, body: dict | None = None, *, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """One JSON request; ``(status, decoded body)`` whatever the status."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


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
        return _tail(self.log, lines)

    def call(self, method: str, path: str, body: dict | None = None, *, token: str | None = None) -> tuple[int, Any]:
        return http_json(method, self.base_url + path, body, token=token)

    async def api(
        self, method: str, path: str, body: dict | None = None, *, token: str | None = None, expect: int = 200
    ) -> Any:
        """A request from async code (in a thread, so the event loop keeps running); asserts the status."""
        status, data = await asyncio.to_thread(self.call, method, path, body, token=token)
        assert status == expect, f"{method} {path} on {self.name}: {status} {data}"
        return data


def _healthy(port: int) -> bool:
    try:
        status, _ = http_json("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)
    except OSError:
        return False
    return status == 200


def _launch(name: str, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    log = log_dir / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [PYTHON, "-m", "connect.serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Server(name=name, port=port, process=process, log=log)


def _wait_healthy(server: Server) -> bool:
    deadline = server.started + START_TIMEOUT
    while server.process.poll() is None and time.monotonic() < deadline:
        if _healthy(server.port):
            return True
        time.sleep(0.1)
    return False


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
                _stop(server.process)
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
        for server in launched:  # all at once: each takes a moment to shut down
            if server.process.poll() is None:
                server.process.terminate()
        for server in launched:
            _stop(server.process)
        for server in launched:
            print(f"--- {server.name} (port {server.port}), last lines of its log ---\n{server.log_tail()}")


@contextmanager
def running_server(name: str, env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    """One server process; see :func:`running_servers`."""
    with running_servers([name], env, log_dir) as (server,):
        yield server


# --- coturn ---------------------------------------------------------------------------------------------


def _stun_binding_answered(port: int, timeout: float = 0.2) -> bool:
    """True when a STUN Binding request to 127.0.0.1:port over UDP gets an answer."""
    transaction = secrets.token_bytes(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(timeout)
        try:
            udp.sendto(request, ("127.0.0.1", port))
            answer = udp.recv(2048)
        except OSError:
            return False
    return answer[8:20] == transaction


@dataclass
class Coturn:
    port: int
    secret: str
    realm: str
    process: subprocess.Popen
    log: Path = field(repr=False)

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log, lines)


@contextmanager
def running_coturn(
    binary: str, port: int, secret: str, work_dir: Path, realm: str = "connect.test"
) -> Iterator[Coturn]:
    """coturn on 127.0.0.1:``port`` (UDP and TCP) checking TURN REST credentials made with ``secret``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / "turnserver.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                binary,
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--listening-port={port}",
                "--use-auth-secret",
                f"--static-auth-secret={secret}",
                f"--realm={realm}",
                "--no-tls",
                "--no-dtls",
                "--allow-loopback-peers",
                "--no-cli",
                "--log-file=stdout",
                f"--pidfile={work_dir / 'turnserver.pid'}",
                f"--userdb={work_dir / 'turndb'}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not _stun_binding_answered(port):
            time.sleep(0.05)
        if process.poll() is not None or not _stun_binding_answered(port, timeout=1.0):
            raise RuntimeError(f"coturn did not answer STUN on 127.0.0.1:{port}:\n{_tail(log)}")
        yield Coturn(port=port, secret=secret, realm=realm, process=process, log=log)
    finally:
        _stop(process)
        print(f"--- coturn on port {port}, last lines of its log ---\n{_tail(log, 30)}")


# --- WebSocket ------------------------------------------------------------------------------------------

# Messages that may arrive at any moment and say nothing about the exchange a test waits for.
INCIDENTAL = frozenset({"peer", "pong"})
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_ABNORMAL = 1006


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame, masked as RFC 6455 requires of clients."""
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", length)
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", length)
    mask = secrets.token_bytes(4)
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + masked


class SignalingSocket:
    """A client of the signaling protocol: JSON text frames both ways.

    A few lines of RFC 6455 over asyncio streams: autobahn (installed with daphne) cannot run on asyncio in a
    process where Channels has already chosen Twisted for it, and no other WebSocket client is a dependency.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._close_sent = False
        self._read_task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, url: str, *, origin: str, token: str | None = None, timeout: float = 10.0
    ) -> SignalingSocket:
        """Open ``url`` (ws://127.0.0.1:port/...) with an ``Origin`` and, for agents, a bearer token."""
        parts = urlsplit(url)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout)
        try:
            key = base64.b64encode(secrets.token_bytes(16)).decode()
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            lines = [
                f"GET {target} HTTP/1.1",
                f"Host: {parts.netloc}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                f"Origin: {origin}",
            ]
            if token:
                lines.append(f"Authorization: Bearer {token}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)).decode("latin-1")
            status_line, *header_lines = head.strip().split("\r\n")
            if status_line.split()[1:2] != ["101"]:
                raise ConnectionError(f"WebSocket refused: {status_line}")
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)
            }
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            if headers.get("sec-websocket-accept") != accept:
                raise ConnectionError(f"bad Sec-WebSocket-Accept in {head!r}")
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer)

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = await self._reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._reader.readexactly(8))
        mask = await self._reader.readexactly(4) if second & 0x80 else b""
        payload = await self._reader.readexactly(length)
        if mask:
            payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    async def _read_loop(self) -> None:
        code = CLOSE_ABNORMAL
        fragments = bytearray()
        try:
            while True:
                fin, opcode, payload = await self._read_frame()
                if opcode == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    if not self._close_sent:  # answer the server's close handshake
                        self._close_sent = True
                        self._writer.write(_client_frame(OP_CLOSE, payload[:2]))
                    break
                if opcode == OP_PING:
                    self._writer.write(_client_frame(OP_PONG, payload))
                elif opcode in (OP_TEXT, OP_CONTINUATION):
                    fragments += payload
                    if fin:
                        self.messages.put_nowait(json.loads(fragments))
                        fragments = bytearray()
                elif opcode == OP_BINARY:
                    raise AssertionError("the signaling server sent a binary frame")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(code)
            self._writer.close()

    async def send(self, message: dict) -> None:
        assert not self.closed.done(), f"socket closed ({self.closed.result()}) before sending {message['type']}"
        self._writer.write(_client_frame(OP_TEXT, json.dumps(message).encode()))
        await asyncio.wait_for(self._writer.drain(), 10)

    async def receive(self, timeout: float = 10.0) -> dict:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def expect(self, kind: str, timeout: float = 10.0) -> dict:
        """The next message, skipping incidental ones; it must be of type ``kind``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                message = await self.receive(max(deadline - loop.time(), 0.01))
            except TimeoutError:
                raise AssertionError(f"no {kind!r} message within {timeout} s") from None
            if message.get("type") in INCIDENTAL and kind not in INCIDENTAL:
                continue
            assert message.get("type") == kind, f"expected {kind!r}, got {message}"
            assert message.get("v") == 1, message
            return message

    async def close_code(self, timeout: float = 10.0) -> int:
        """Wait for the server to close the socket; its close code."""
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def close(self) -> None:
        """Close from our side (or after the server did): bounded, and never raises on a dead connection."""
        if not self.closed.done() and not self._close_sent:
            self._close_sent = True
            with suppress(ConnectionError):
                self._writer.write(_client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2)
        self._read_task.cancel()
        with suppress(asyncio.CancelledError):
            await self._read_task
        self._writer.close()
