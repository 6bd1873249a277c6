"""Serve the product: ``python -m connect.serve [--host H] [--port P]``.

uvicorn, configured the way ``make bench`` measured best (docs/performance.md): the websockets sans-I/O protocol,
per-message compression off (about 300 KiB per connection with zlib's defaults), uvloop and httptools. One process
per container or unit; run more processes to use more cores (they share state through Redis).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

import uvicorn

# Frames above this close the connection (1009); below it, the protocol answers "too_large" past 64 KB and the
# connection lives on (docs/signaling.md).
WS_MAX_BYTES = 1024 * 1024


def uvicorn_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """uvicorn's settings for the product. ``CONNECT_FORWARDED_ALLOW_IPS`` names the load balancers whose
    ``X-Forwarded-For`` is believed; unset, the peer's address is the client's (rate limits and audit use it)."""
    trusted = environ.get("CONNECT_FORWARDED_ALLOW_IPS", "").strip()
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_max_size": WS_MAX_BYTES,
        "lifespan": "off",
        "backlog": 4096,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "server_header": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve BizGaze Connect (HTTP and WebSocket, one ASGI process).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")
    uvicorn.run("connect.asgi:application", host=args.host, port=args.port, **uvicorn_options(os.environ))


if __name__ == "__main__":
    main()
