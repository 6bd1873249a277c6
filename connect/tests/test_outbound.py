"""The outbound guard (connect/outbound.py) against real servers on loopback: what it refuses before sending
anything, and that the requests it does send go where it checked, no further."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from connect import outbound

from .loopback import LoopbackServer

# Each hides (or may route to) a private address: 6to4 of 127.0.0.1 and of 10.0.0.1, NAT64 of 127.0.0.1 and of
# 10.0.0.1 (well-known and local-use prefixes), Teredo, site-local, the 6to4 relay anycast.
EMBEDDING_ADDRESSES = [
    "2002:7f00:1::",
    "2002:a00:1::1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b:1::a00:1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001::1",
    "fec0::1",
    "192.88.99.1",
]


@pytest.fixture
def no_connection(monkeypatch):
    """Fail the test if anything connects anywhere."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def resolve_as(monkeypatch):
    """Make ``name`` resolve to the given addresses, one answer per look-up (the last one repeats)."""

    def install(name: str, *answers: str) -> None:
        real = socket.getaddrinfo
        pending = list(answers)

        def fake(host, port, *args, **kwargs):
            if host != name:
                return real(host, port, *args, **kwargs)
            address = pending.pop(0) if len(pending) > 1 else pending[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", fake)

    return install


@pytest.fixture
def server():
    started = LoopbackServer("127.0.0.1")
    yield started
    started.close()


@pytest.fixture
def internal():
    """Stands for a service inside our network: 127.0.0.2 is never allowed in these tests."""
    started = LoopbackServer("127.0.0.2")
    yield started
    started.close()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True


@pytest.mark.parametrize("address", EMBEDDING_ADDRESSES)
def test_an_address_hiding_a_private_one_is_refused_before_connecting(address, no_connection):
    assert not outbound.address_is_public(address)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(outbound.BlockedURL, match="not a public address"):
        outbound.get(f"https://{host}/.well-known/openid-configuration")


@pytest.mark.parametrize("address", EMBEDDING_ADDRESSES)
def test_a_name_resolving_to_such_an_address_is_refused(address, resolve_as, no_connection):
    resolve_as("idp.example.com", address)
    with pytest.raises(outbound.BlockedURL, match="idp.example.com resolves to"):
        outbound.post("https://idp.example.com/token", b"{}", {})


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert outbound.address_is_public(address)


@pytest.mark.parametrize("address", ["::ffff:127.0.0.2", "::ffff:10.0.0.1", "::ffff:169.254.169.254"])
def test_ipv4_mapped_private_addresses_stay_refused(address, no_connection):
    assert not outbound.address_is_public(address)
    with pytest.raises(outbound.BlockedURL):
        outbound.get(f"https://[{address}]/")


def test_allowed_networks_open_only_what_they_list(server, internal):
    assert outbound.get(f"{server.url}/x").status == 200
    assert [r["path"] for r in server.requests] == ["/x"]
    with pytest.raises(outbound.BlockedURL, match="127.0.0.2"):
        outbound.get(f"{internal.url}/x")
    assert internal.requests == []


def test_the_connection_goes_to_the_address_that_was_checked(server, resolve_as):
    # The name resolves to the allowed address when checked, then (rebinding) to an internal one listening on the
    # same port: the request must still land on the address that was checked.
    rebound = LoopbackServer("127.0.0.2", port=server.port)
    resolve_as("idp.rebind.test", "127.0.0.1", "127.0.0.2")
    try:
        response = outbound.get(f"http://idp.rebind.test:{server.port}/pinned")
    finally:
        rebound.close()
    assert response.status == 200
    assert rebound.requests == []
    assert server.requests[0]["path"] == "/pinned"
    assert server.requests[0]["headers"]["Host"] == f"idp.rebind.test:{server.port}"


def test_redirects_come_back_unfollowed(internal, settings):
    redirecting = LoopbackServer(
        "127.0.0.1", answer=lambda method, path: (302, {"Location": f"{internal.url}/latest/meta-data"}, b"")
    )
    try:
        response = outbound.get(f"{redirecting.url}/.well-known/openid-configuration")
    finally:
        redirecting.close()
    assert response.status == 302 and response.headers["location"].startswith(internal.url)
    assert internal.requests == []


def test_plain_http_is_refused_outside_debug(server, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    with pytest.raises(outbound.BlockedURL, match="Only https URLs are allowed"):
        outbound.get(f"{server.url}/x")
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example.com:99999/",
        "https://[::1/",
        "https://user:secret@idp.example.com/",
        "ftp://idp.example.com/",
        "https:///no-host",
        "https://" + "a" * 64 + ".example.com/",
        "file:///etc/passwd",
    ],
)
def test_malformed_urls_are_refused_not_crashing(url, no_connection):
    with pytest.raises(outbound.BlockedURL):
        outbound.get(url)


def test_a_name_that_does_not_resolve_is_an_outbound_error(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(outbound.OutboundError, match="does not resolve") as caught:
        outbound.get("https://idp.example.com/")
    assert not isinstance(caught.value, outbound.BlockedURL)


def test_a_closed_port_is_an_outbound_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(outbound.OutboundError, match="Could not connect") as caught:
        outbound.get(f"http://127.0.0.1:{port}/")
    assert not isinstance(caught.value, outbound.BlockedURL)


def _raw_server(behaviour) -> tuple[int, threading.Event]:
    """A TCP server on 127.0.0.1 that hands each connection to ``behaviour(conn, stop)``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve():
        with listener:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=behaviour, args=(conn, stop), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], stop


def _silent(conn, stop):
    stop.wait(10)
    conn.close()


def _dripping(conn, stop):
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    while not stop.is_set():  # a byte every 0.2 s: each read is quick, the whole never ends
        try:
            conn.sendall(b"x")
        except OSError:
            break
        time.sleep(0.2)
    conn.close()


@pytest.mark.parametrize("behaviour", [_silent, _dripping], ids=["silent", "dripping"])
def test_a_server_that_stalls_is_cut_off_at_the_timeout(behaviour):
    port, stop = _raw_server(behaviour)
    started = time.monotonic()
    try:
        with pytest.raises(outbound.OutboundError, match="did not answer within 1 seconds"):
            outbound.get(f"http://127.0.0.1:{port}/", timeout=1)
    finally:
        stop.set()
    assert time.monotonic() - started < 3


def test_a_long_answer_is_cut_and_marked():
    big = LoopbackServer("127.0.0.1", answer=lambda method, path: (200, {}, b"x" * (3 * 1024 * 1024)))
    try:
        response = outbound.get(big.url, max_body_bytes=1024)
        whole = outbound.get(big.url, max_body_bytes=4 * 1024 * 1024)
    finally:
        big.close()
    assert response.truncated and response.body == b"x" * 1024
    assert not whole.truncated and len(whole.body) == 3 * 1024 * 1024


def test_a_path_cannot_inject_headers(server):
    # urlsplit drops the line break; what remains is quoted, so the request line stays one line.
    assert outbound.get(f"{server.url}/a b\r\nX-Injected: 1").status == 200
    request = server.requests[0]
    assert request["path"] == "/a%20bX-Injected:%201"
    assert "X-Injected" not in request["headers"]


def test_request_sends_method_headers_and_body(server):
    response = outbound.request(
        "POST",
        f"{server.url}/token?x=1",
        body=b"grant_type=authorization_code",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic abc"},
    )
    assert response.status == 200 and response.body == b"{}" and not response.truncated
    request = server.requests[0]
    assert request["method"] == "POST" and request["path"] == "/token?x=1"
    assert request["body"] == b"grant_type=authorization_code"
    assert request["headers"]["Authorization"] == "Basic abc"


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """An https server on 127.0.0.1 with a certificate for ``idp.tls.test``, trusted by this test's clients."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.tls.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("idp.tls.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # read by ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    started = LoopbackServer("127.0.0.1", tls=context)
    yield started
    started.close()


def test_https_checks_the_certificate_of_the_name_on_the_checked_address(tls_server, resolve_as, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    resolve_as("idp.tls.test", "127.0.0.1")
    response = outbound.get(f"https://idp.tls.test:{tls_server.port}/.well-known/openid-configuration")
    assert response.status == 200
    assert tls_server.requests[0]["headers"]["Host"] == f"idp.tls.test:{tls_server.port}"


def test_https_refuses_a_certificate_for_another_name(tls_server, resolve_as):
    resolve_as("other.tls.test", "127.0.0.1")
    with pytest.raises(outbound.OutboundError, match="secure connection to other.tls.test failed"):
        outbound.get(f"https://other.tls.test:{tls_server.port}/")
    assert tls_server.requests == []
