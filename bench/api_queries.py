"""SQL queries per request for workload D: the trivial DRF view, the session list at two page sizes, and a create.

Run with the server's environment (``DJANGO_SETTINGS_MODULE=bench.settings``, ``DATABASE_URL``, ``REDIS_URL``)::

    python -m bench.api_queries <bearer token> [--sql]

It prints one JSON object, e.g. ``{"trivial": 0, "list_10": 4, "list_50": 4, "create": 9}``; ``--sql`` also
writes each case's statements to stderr. A list count that grows with the page size is an N+1 query.

Each case is requested once before it is counted, so one-off work (caches filled on first use) is left out.
The list needs at least 50 sessions in the token's organization; the create adds two sessions to it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import django

HOST = "127.0.0.1"  # DEBUG is off, so the host must be one of ALLOWED_HOSTS
LIST_SIZES = (10, 50)

log = logging.getLogger("bench.api_queries")


def count_queries(token: str) -> dict[str, int]:
    """The number of SQL queries of one request of each case: ``trivial`` (GET /bench/trivial), ``list_10`` and
    ``list_50`` (GET /api/v1/sessions?limit=N), ``create`` (POST /api/v1/sessions). Sets Django up from
    ``DJANGO_SETTINGS_MODULE``; the statements themselves are logged at DEBUG on ``bench.api_queries``."""
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=HOST)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def get_list(size: int) -> Callable[[], Any]:
        return lambda: client.get("/api/v1/sessions", {"limit": size}, **auth)

    def create() -> Any:
        return client.post("/api/v1/sessions", {"customer_name": "Bench"}, content_type="application/json", **auth)

    # (name, request, expected status, expected number of items)
    cases: list[tuple[str, Callable[[], Any], int, int | None]] = [
        ("trivial", lambda: client.get("/bench/trivial"), 200, None),
        *((f"list_{size}", get_list(size), 200, size) for size in LIST_SIZES),
        ("create", create, 201, None),
    ]

    counts: dict[str, int] = {}
    for name, request, expected_status, expected_items in cases:
        request()  # warm-up, not counted
        with CaptureQueriesContext(connection) as captured:
            response = request()
        if response.status_code != expected_status:
            raise RuntimeError(f"{name}: answered {response.status_code}, not {expected_status}: {response.content!r}")
        if expected_items is not None and len(response.json()["results"]) != expected_items:
            raise RuntimeError(f"{name}: {len(response.json()['results'])} items, not {expected_items}")
        counts[name] = len(captured.captured_queries)
        log.debug("-- %s: %d queries", name, counts[name])
        for query in captured.captured_queries:
            log.debug("   %s", query["sql"])
    return counts


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0].startswith("-") or argv[1:] not in ([], ["--sql"]):
        print("usage: python -m bench.api_queries <bearer token> [--sql]", file=sys.stderr)
        return 2
    if argv[1:] == ["--sql"]:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        log.propagate = False
    print(json.dumps(count_queries(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
