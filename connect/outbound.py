"""The one HTTP client for user-supplied URLs (webhooks). It refuses to reach our own network.

The host is resolved here, every address is checked (private, loopback, link-local, carrier-grade NAT,
multicast, reserved and unspecified ranges, IPv4 and IPv6, including IPv4-mapped IPv6), and the connection goes
to the address that was checked, so a DNS answer cannot change between the check and the connection.
Redirects are not followed. ``CONNECT_OUTBOUND_ALLOWED_NETWORKS`` lists networks to allow anyway (tests use it
for a receiver on loopback).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedURL(Exception):
    """The URL is not allowed (scheme, or an address in a forbidden range); nothing was sent."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: int


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS]


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return True
    if ip.version == 4 and ip in CGNAT:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a URL we may send to, or :class:`BlockedURL`. Does not resolve."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if settings.CONNECT_OUTBOUND_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed_schemes:
        raise BlockedURL(f"Only {' and '.join(allowed_schemes)} URLs are allowed.")
    if not parts.hostname:
        raise BlockedURL("The URL has no host.")
    if parts.username or parts.password:
        raise BlockedURL("URLs with credentials are not allowed.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def resolve_public(host: str, port: int) -> str:
    """An address of ``host`` that may be reached; :class:`BlockedURL` if any address it names is forbidden."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedURL(f"The host {host!r} does not resolve.") from exc
    addresses = [info[4][0] for info in infos]
    # One forbidden address is enough to refuse: a name that points inside is an attack, whatever else it says.
    for address in addresses:
        if not address_is_public(address):
            raise BlockedURL(f"{host} resolves to {address}, which is not a public address.")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI for the name, connection to the checked address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 15.0) -> Response:
    """POST ``body`` to ``url`` under the rules above. Redirects come back as they are (3xx), not followed."""
    scheme, host, port, path = check_url(url)
    address = resolve_public(host, port)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout)
    started = time.monotonic()
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        reply = connection.getresponse()
        content = reply.read(64 * 1024)
        return Response(
            status=reply.status,
            headers={k.lower(): v for k, v in reply.getheaders()},
            body=content,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )
    finally:
        connection.close()
