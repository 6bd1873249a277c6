"""Serve the product: ``python -m connect.serve [--host H] [--port P]``.

uvicorn, configured the way ``make bench`` measured best (docs/performance.md): the websockets sans-I/O protocol,
per-message compression off (about 300 KiB per connection with zlib's defaults), uvloop and httptools, the latter with
a header-read deadline for slow clients (:class:`GuardedHttpToolsProtocol`). One process per container or unit; run more
processes to use more cores (they share state through Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connect.request_id import PEER_SCOPE_KEY

# Frames above this close the connection (1009); below it, the protocol answers "too_large" past 64 KB and the
# connection lives on (docs/signaling.md).
WS_MAX_BYTES = 1024 * 1024
# A request line and headers larger than this are refused (431). Browsers send a few KiB; nginx's default allows 32.
MAX_HEADER_BYTES = 64 * 1024


class _HeadersTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the two header limits uvicorn lacks with httptools:

    - a deadline: a client that has not sent its request line and headers ``CONNECT_HEADER_TIMEOUT_SECONDS`` after
      connecting (or after starting its next request on a kept-alive connection) gets 408 and is disconnected, so slow
      headers (slowloris) cannot hold connections open;
    - a size: request line and headers above :data:`MAX_HEADER_BYTES` get 431 and the connection is closed (httptools
      would buffer any amount a fast client sends within the deadline).

    Stalled bodies are timed by ``connect.middleware.ASGIBodyGuard``, which knows when the application waits for one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.conf import settings  # the application, loaded before any connection, has set Django up

        self.header_timeout = float(settings.CONNECT_HEADER_TIMEOUT_SECONDS)
        self.header_deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0

    def _arm_header_deadline(self) -> None:
        if self.header_deadline is None and self.header_timeout > 0:
            self.header_deadline = self.loop.call_later(self.header_timeout, self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The TCP peer, which uvicorn's proxy middleware hides once a trusted balancer's X-Forwarded-For replaces
        # ``client``: an X-Request-ID is kept only from those balancers (connect.request_id).
        self.scope[PEER_SCOPE_KEY] = self.client  # type: ignore[literal-required]
        self.header_bytes = 0
        self._arm_header_deadline()  # the next request on a kept-alive connection (the first one's is armed)

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_HEADER_BYTES:
            self._refuse(
                b"431 Request Header Fields Too Large",
                "request_headers_too_large",
                f"The request line and headers are larger than {MAX_HEADER_BYTES} bytes.",
                {"limit_bytes": MAX_HEADER_BYTES},
            )
            raise _HeadersTooLarge  # stops the parser; uvicorn's "invalid request" answer is skipped below

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # closing: this protocol has already answered (408, 431)
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _header_deadline_passed(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's headers are late while the previous response is still being produced: that
            # response goes out first; the deadline is checked again after it.
            self._arm_header_deadline()
            return
        self._refuse(
            b"408 Request Timeout",
            "request_timeout",
            f"The request headers were not received within {self.header_timeout:g} seconds.",
            {"timeout_seconds": self.header_timeout},
        )

    def _refuse(self, status: bytes, code: str, message: str, details: dict[str, Any]) -> None:
        """Answer in the one error shape and close, before any application saw the request."""
        self._disarm_header_deadline()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a pipelined request: an answer now would land inside the previous response
            return
        from connect.errors import error_body

        body = json.dumps(error_body(code, message, details)).encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
        )
        self.transport.close()


def uvicorn_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """uvicorn's settings for the product. ``CONNECT_FORWARDED_ALLOW_IPS`` names the load balancers whose
    ``X-Forwarded-For`` is believed; unset, the peer's address is the client's (rate limits and audit use it)."""
    trusted = environ.get("CONNECT_FORWARDED_ALLOW_IPS", "").strip()
    return {
        "loop": "uvloop",
        "http": GuardedHttpToolsProtocol,
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_max_size": WS_MAX_BYTES,
        "lifespan": "off",
        "backlog": 4096,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "server_header": False,
        # uvicorn's own lines (startup, errors, access) go through the project's LOGGING, so CONNECT_LOG_FORMAT=json
        # makes every line JSON.
        "log_config": None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve BizGaze Connect (HTTP and WebSocket, one ASGI process).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--embedded-beat",
        action="store_true",
        help="without a broker, also run the periodic tasks in this process (make run)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")
    if args.embedded_beat:
        import django

        from connect.embedded_beat import start_embedded_beat

        django.setup()
        start_embedded_beat()
    # Links the product makes (join links, invitations) point where it serves, unless CONNECT_SITE_URL says otherwise.
    os.environ["CONNECT_SERVE_PORT"] = str(args.port)
    uvicorn.run("connect.asgi:application", host=args.host, port=args.port, **uvicorn_options(os.environ))


if __name__ == "__main__":
    main()
