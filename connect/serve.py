"""Serve the product: ``python -m connect.serve [--host H] [--port P]``.

uvicorn, configured the way ``make bench`` measured best (docs/performance.md): the websockets sans-I/O protocol,
per-message compression off (about 300 KiB per connection with zlib's defaults), uvloop and httptools. One process
per container or unit; run more processes to use more cores (they share state through Redis).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

# Frames above this close the connection (1009); below it, the protocol answers "too_large" past 64 KB and the
# connection lives on (docs/signaling.md).
WS_MAX_BYTES = 1024 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve BizGaze Connect (HTTP and WebSocket, one ASGI process).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")
    uvicorn.run(
        "connect.asgi:application",
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_BYTES,
        lifespan="off",
        backlog=4096,
        proxy_headers=False,  # Django reads X-Forwarded-Proto itself when DJANGO_BEHIND_TLS_PROXY is set
        server_header=False,
    )


if __name__ == "__main__":
    main()
