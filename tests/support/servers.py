"""Real processes on 127.0.0.1, and the clients that talk to them: shared by the end-to-end suites (tests/e2e) and
the benchmark (bench/), so both start the product the way production does (``python -m connect.serve``), wait for
it the same way, and speak WebSocket through the same library client (``websockets``).

Nothing here imports pytest or Django: the benchmark runs it outside any test, and the product's settings belong
to the processes started, not to the one starting them. Every wait is bounded; every process started here is
stopped by the context manager (or the ``stop`` helper) that started it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 420.0  # a migrate on a loaded 2-core machine

# WebSocket client options for loopback: no proxy from the environment, no compression (the product and the
# baselines run without it), no keepalive pings of the client's own (the protocol has its heartbeat).
WS_OPTIONS: dict[str, Any] = {"proxy": None, "compression": None, "ping_interval": None, "max_size": 2**20}


# --- Ports and processes ----------------------------------------------------------------------------------------


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


def wait_for_port(port: int, timeout: float = START_TIMEOUT) -> None:
    """Return once something accepts TCP connections on 127.0.0.1:``port``; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Stop one process we started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def stop_all(processes: Iterable[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """Stop processes we started, all signalled at once: each takes a moment to shut down."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        stop(process, timeout)


# --- The product ------------------------------------------------------------------------------------------------


def serve_command(port: int) -> list[str]:
    """How production starts a server process (connect/serve.py), on ``port`` of 127.0.0.1."""
    return [PYTHON, "-m", "connect.serve", "--port", str(port)]


def launch(
    argv: list[str], env: dict[str, str], log: Path, *, append: bool = False, preexec_fn: Callable | None = None
) -> subprocess.Popen:
    """Start ``argv`` in the repository with ``env``, its output going to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab" if append else "wb") as output:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)


def is_healthy(port: int) -> bool:
    """Whether the product on ``port`` answers ``/healthz`` with 200."""
    try:
        status, _ = http_json("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)
    except OSError:
        return False
    return status == 200


def wait_healthy(port: int, *, timeout: float = START_TIMEOUT, process: subprocess.Popen | None = None) -> bool:
    """Wait until the product on ``port`` is healthy; False after ``timeout`` or once ``process`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        if is_healthy(port):
            return True
        time.sleep(0.1)
    return False


def manage(env: dict[str, str], *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run ``manage.py`` with ``env``; its output, or an error that shows it."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n{result.stdout[-4000:]}")
    return result.stdout


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def _maintenance_url(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(scheme="postgresql", path="/postgres"))


def _database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def create_database(database_url: str, *, replace: bool = False) -> None:
    """Create the (empty) database ``database_url`` names; with ``replace``, drop one of that name first."""
    import psycopg
    from psycopg import sql

    name = sql.Identifier(_database_name(database_url))
    with psycopg.connect(_maintenance_url(database_url), autocommit=True, connect_timeout=10) as connection:
        if replace:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = sql.Identifier(_database_name(database_url))
    with psycopg.connect(_maintenance_url(database_url), autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@contextmanager
def postgres_database(database_url: str, prefix: str = "connect_e2e") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``database_url``; its URL. Dropped on exit.

    Stop every process that uses it before leaving the block.
    """
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{prefix}_{secrets.token_hex(6)}"))
    create_database(url)
    try:
        yield url
    finally:
        drop_database(url)


# --- HTTP -------------------------------------------------------------------------------------------------------

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


# --- coturn -----------------------------------------------------------------------------------------------------


def stun_binding_answered(port: int, timeout: float = 0.2) -> bool:
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
        return tail(self.log, lines)


@contextmanager
def running_coturn(
    binary: str, port: int, secret: str, work_dir: Path, realm: str = "connect.test"
) -> Iterator[Coturn]:
    """coturn on 127.0.0.1:``port`` (UDP and TCP) checking TURN REST credentials made with ``secret``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / "turnserver.log"
    argv = [
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
    ]
    with log.open("w") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not stun_binding_answered(port):
            time.sleep(0.05)
        if process.poll() is not None or not stun_binding_answered(port, timeout=1.0):
            raise RuntimeError(f"coturn did not answer STUN on 127.0.0.1:{port}:\n{tail(log)}")
        yield Coturn(port=port, secret=secret, realm=realm, process=process, log=log)
    finally:
        stop(process)
        print(f"--- coturn on port {port}, last lines of its log ---\n{tail(log, 30)}")


# --- WebSocket --------------------------------------------------------------------------------------------------

# Messages that may arrive at any moment and say nothing about the exchange a test waits for.
INCIDENTAL = frozenset({"peer", "pong"})
CLOSE_ABNORMAL = 1006


class SignalingSocket:
    """A client of the signaling protocol (JSON text frames both ways) over the ``websockets`` client.

    Messages are read as they arrive into ``messages``; ``closed`` resolves to the close code once the connection
    ends (1006 when it dropped without a closing handshake).
    """

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._read_task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, url: str, *, origin: str, token: str | None = None, timeout: float = 10.0
    ) -> SignalingSocket:
        """Open ``url`` (ws://127.0.0.1:port/...) with an ``Origin`` and, for agents, a bearer token.

        A refused upgrade raises ``websockets.exceptions.InvalidStatus`` (its ``response.status_code`` says why)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        connection = await ws_connect(
            url, origin=origin, additional_headers=headers, open_timeout=timeout, close_timeout=2, **WS_OPTIONS
        )
        return cls(connection)

    async def _read_loop(self) -> None:
        try:
            async for raw in self._connection:
                if isinstance(raw, bytes):
                    raise AssertionError("the signaling server sent a binary frame")
                self.messages.put_nowait(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self._connection.close_code or CLOSE_ABNORMAL)

    async def send(self, message: dict) -> None:
        assert not self.closed.done(), f"socket closed ({self.closed.result()}) before sending {message['type']}"
        await asyncio.wait_for(self._connection.send(json.dumps(message)), 10)

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
        with suppress(ConnectionError, TimeoutError, ConnectionClosed):
            await asyncio.wait_for(self._connection.close(), 3)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2)
        self._read_task.cancel()
        with suppress(asyncio.CancelledError, AssertionError):
            await self._read_task
