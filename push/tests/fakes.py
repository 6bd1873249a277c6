"""Fake push services at the HTTP boundary, so the real client libraries run against them.

:class:`FakeAPNs` is an HTTP/2 server over TLS (``h2`` on an asyncio server, with a self-signed certificate made
here) that answers like Apple's: ``:status`` and ``apns-id``, and a JSON ``reason`` for a refusal.
:class:`FakeGoogle` is Google's OAuth2 token endpoint and FCM's HTTP v1 ``messages:send`` on one plain HTTP server.
Both record what they received and answer from a queue of scripted answers (then success).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake push service")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "fake-apns.crt", directory / "fake-apns.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def apns_signing_key(directory: Path) -> tuple[Path, Any]:
    """An APNs-style .p8 key (EC P-256, PKCS#8 PEM) and its public key, to check the JWT the client signs."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / "AuthKey_TESTKEY123.p8"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path, key.public_key()


# --- APNs --------------------------------------------------------------------------------------------------------


class FakeAPNs:
    """``answers``: ``(status, reason)`` per request in order, then 200; a status of ``None`` never answers (a hung
    service). ``requests``: ``{"headers": {...}, "path": ..., "json": ...}`` per request received."""

    def __init__(self, directory: Path) -> None:
        self.cert_file, key_file = self_signed_certificate(directory)
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int | None, str]] = []
        self.answered_ok = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        context.set_alpn_protocols(["h2"])
        self.server = asyncio.run_coroutine_threadsafe(
            self.loop.create_server(lambda: _APNsProtocol(self), "127.0.0.1", 0, ssl=context), self.loop
        ).result(timeout=5)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class _APNsProtocol(asyncio.Protocol):
    def __init__(self, fake: FakeAPNs) -> None:
        self.fake = fake
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams: dict[int, dict[str, Any]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = {"headers": dict(event.headers), "body": b""}
            elif isinstance(event, DataReceived):
                self.streams[event.stream_id]["body"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self.answer(event.stream_id)
        self.transport.write(self.conn.data_to_send())

    def answer(self, stream_id: int) -> None:
        request = self.streams.pop(stream_id)
        headers = request["headers"]
        self.fake.requests.append({"headers": headers, "path": headers[":path"], "json": json.loads(request["body"])})
        status, reason = self.fake.answers.pop(0) if self.fake.answers else (200, "")
        if status is None:
            return
        response = [(":status", str(status)), ("apns-id", headers["apns-id"])]
        if status == 200:
            self.fake.answered_ok += 1
            self.conn.send_headers(stream_id, response, end_stream=True)
            return
        self.conn.send_headers(stream_id, [*response, ("content-type", "application/json")])
        self.conn.send_data(stream_id, json.dumps({"reason": reason}).encode(), end_stream=True)


# --- Google OAuth2 and FCM HTTP v1 -------------------------------------------------------------------------------

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class FakeGoogle:
    """``answers``: ``(status, fcm_error_code or "")`` per FCM request in order, then success."""

    ACCESS_TOKEN = "ya29.fake-access-token"

    def __init__(self) -> None:
        self.token_requests: list[dict[str, list[str]]] = []
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, str]] = []
        self.answered_ok = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    fake.token_requests.append(parse_qs(body.decode()))
                    self.reply(200, {"access_token": fake.ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                fake.requests.append({"path": self.path, "headers": headers, "json": json.loads(body)})
                status, code = fake.answers.pop(0) if fake.answers else (200, "")
                if status == 200:
                    fake.answered_ok += 1
                    project = self.path.split("/")[3]
                    self.reply(200, {"name": f"projects/{project}/messages/0:{len(fake.requests)}"})
                    return
                details = [{"@type": FCM_ERROR_TYPE, "errorCode": code}] if code else []
                error = {"code": status, "message": "scripted", "status": STATUS_NAMES.get(status, "UNKNOWN")}
                self.reply(status, {"error": {**error, "details": details}})

            def reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_account(self, directory: Path) -> tuple[Path, Any]:
        """A service account key file whose token_uri is this server, and the public key to check its JWTs."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": "connect-test",
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": "push@connect-test.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(info))
        return path, key.public_key()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
