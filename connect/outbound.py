"""The one HTTP client for every request to an address a tenant supplied (webhooks, OpenID Connect issuers). It
refuses to reach our own network.

The host is resolved here, every address is checked (private, loopback, link-local, carrier-grade NAT,
multicast, reserved and unspecified ranges, IPv4 and IPv6, including IPv4-mapped IPv6 and the ranges that carry
another address inside them: 6to4, NAT64, Teredo, site-local), and the connection goes to the address that was
checked, so a DNS answer cannot change between the check and the connection. https only, unless
``CONNECT_OUTBOUND_ALLOW_HTTP`` (debug). Redirects are not followed. ``CONNECT_OUTBOUND_ALLOWED_NETWORKS`` lists
networks to allow anyway (tests use it for a receiver on loopback).

:class:`BlockedURL`: the URL is refused and nothing was sent. :class:`OutboundError` (its parent): the request
could not be completed (no such host, unreachable, timed out, not HTTP). Callers turn both into a clear answer.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from django.conf import settings

CGNAT = ipaddress.ip_network("100.64.0.0/10")
# Ranges whose addresses stand for another address (6to4 and its relay anycast, NAT64, Teredo) or that are
# deprecated and may be routed inside a site (site-local). A public-looking address there can lead to a private one,
# and Python does not count all of them as non-global: refused whole.
EMBEDDING_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("2002::/16", "192.88.99.0/24", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "fec0::/10")
)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Characters left as they are when a path is quoted for the request line (requests' ``requote_uri`` keeps these).
_PATH_SAFE = "!#$%&'()*+,/:;=?@[]~"


class OutboundError(OSError):
    """The request could not be completed: the host does not resolve or cannot be reached, it did not answer in
    time, or its answer is not HTTP. An ``OSError``, as socket errors are, so code written for those catches it."""


class BlockedURL(OutboundError):
    """The URL is not allowed (scheme, credentials, or an address in a forbidden range); nothing was sent."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: int
    # The answer was longer than the caller's limit and ``body`` holds only its beginning.
    truncated: bool = False


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
    if any(ip in network for network in EMBEDDING_NETWORKS):
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
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bracketed host that is not IPv6, a port out of range
        raise BlockedURL("The URL is not valid: check its host and port.") from None
    allowed_schemes = ("https", "http") if settings.CONNECT_OUTBOUND_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed_schemes:
        raise BlockedURL(f"Only {' and '.join(allowed_schemes)} URLs are allowed.")
    if not parts.hostname:
        raise BlockedURL("The URL has no host.")
    if parts.username or parts.password:
        raise BlockedURL("URLs with credentials are not allowed.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, quote(path, safe=_PATH_SAFE)


def resolve_public(host: str, port: int) -> str:
    """An address of ``host`` that may be reached; :class:`BlockedURL` if any address it names is forbidden."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError(f"The host {host} does not resolve: check its name.") from exc
    except (UnicodeError, ValueError):  # a label longer than DNS allows, a NUL byte
        raise BlockedURL(f"The host name {host!r} is not valid.") from None
    addresses = [info[4][0] for info in infos]
    # One forbidden address is enough to refuse: a name that points inside is an attack, whatever else it says.
    for address in addresses:
        if not address_is_public(address):
            named = f"{host} is" if address == host else f"{host} resolves to {address}, which is"
            raise BlockedURL(
                f"{named} not a public address (private, loopback or reserved): use an address reachable from the "
                "internet."
            )
    return addresses[0]


def check_public_url(url: str) -> None:
    """Refuse (:class:`BlockedURL`) a URL :func:`request` would refuse, or (:class:`OutboundError`) whose host does
    not resolve, without sending anything: for checking an address when it is saved, or before sending a person
    there. The check is made again when a request is sent, since the name may resolve elsewhere by then."""
    _scheme, host, port, _path = check_url(url)
    resolve_public(host, port)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        # Kept after http.client hands the socket to the response, so reads can be held to the deadline.
        self.pinned_socket: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.pinned_socket = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI for the name, connection to the checked address.
        self.sock = self.pinned_socket = self._context.wrap_socket(sock, server_hostname=self.host)


def _read_body(
    connection: _PinnedHTTPConnection, reply: http.client.HTTPResponse, limit: int, deadline: float
) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the answer and whether there was more, read before ``deadline``: a server that
    sends a byte at a time cannot hold the request open past the timeout."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit and not reply.isclosed():  # http.client closes the answer once it has all of it
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if connection.pinned_socket is not None and connection.pinned_socket.fileno() != -1:
            connection.pinned_socket.settimeout(remaining)
        chunk = reply.read1(min(64 * 1024, limit + 1 - size))  # one receive at most, so the deadline holds
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], size > limit


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Response:
    """Send one request to ``url`` under the rules above. Redirects come back as they are (3xx), not followed: a
    caller that wants to follow one sends a new request, checked in its turn. ``timeout`` bounds the connection and
    the reading of the answer; past ``max_body_bytes`` the body is cut and ``truncated`` is set.

    :class:`BlockedURL` when the URL is refused (nothing was sent), :class:`OutboundError` when it cannot be reached.
    """
    scheme, host, port, path = check_url(url)
    address = resolve_public(host, port)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        reply = connection.getresponse()
        content, truncated = _read_body(connection, reply, max_body_bytes, started + timeout)
        return Response(
            status=reply.status,
            headers={k.lower(): v for k, v in reply.getheaders()},
            body=content,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            truncated=truncated,
        )
    except OutboundError:
        raise
    except TimeoutError as exc:
        raise OutboundError(f"{host} did not answer within {timeout:g} seconds.") from exc
    except ssl.SSLError as exc:  # certificate refused, TLS spoken wrong
        raise OutboundError(f"The secure connection to {host} failed: {exc.reason or exc}.") from exc
    except OSError as exc:
        raise OutboundError(f"Could not connect to {host}:{port}: {exc.strerror or exc}.") from exc
    except http.client.HTTPException as exc:
        raise OutboundError(f"{host} did not answer in HTTP ({type(exc).__name__}).") from exc
    except ValueError as exc:  # a header value with a line break
        raise OutboundError(f"The request to {host} could not be sent: {exc}.") from exc
    finally:
        connection.close()


def get(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Response:
    """GET ``url`` under the rules above (see :func:`request`)."""
    return request("GET", url, headers=headers, timeout=timeout, max_body_bytes=max_body_bytes)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 15.0) -> Response:
    """POST a JSON ``body`` to ``url`` under the rules above (see :func:`request`); 64 KiB of the answer are kept."""
    return request(
        "POST",
        url,
        body=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=timeout,
        max_body_bytes=64 * 1024,
    )
