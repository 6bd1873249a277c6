"""Embedded mode holds concurrent use: twenty people working at once on `make run`'s SQLite never see a 500.

A real server process (``python -m connect.serve``, as `make run` starts it) on its own SQLite file; twenty clients,
each on a thread of its own, create support sessions and invitations at the same moment. Every answer must be a
success: before SQLite ran in WAL mode with immediate transactions and a busy timeout, most of these writes were
answered 500 (``OperationalError: database is locked``).
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest

from .servers import OWNER_EMAIL, OWNER_PASSWORD

pytestmark = [pytest.mark.e2e]

CLIENTS = 20
ROUNDS = 5  # each client creates this many sessions and this many invitations


def test_twenty_concurrent_clients_creating_sessions_and_invitations_get_no_5xx(embedded_server):
    server = embedded_server("embedded")
    status, signed_in = server.call(
        "POST",
        "/api/v1/auth/token",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "device": {"name": "load", "platform": "linux"}},
    )
    assert status == 200, signed_in
    token = signed_in["access_token"]

    answers: list[tuple[str, int, object]] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        start.wait()  # every client begins at the same moment
        for round_ in range(ROUNDS):
            calls = [
                ("session", "/api/v1/sessions", {"customer_name": f"Customer {number}-{round_}"}),
                ("invitation", "/api/v1/invitations", {"email": f"c{number}r{round_}@acme.test", "role": "agent"}),
            ]
            for kind, path, body in calls:
                try:
                    status, data = server.call("POST", path, body, token=token)
                except OSError as exc:  # a refused or dropped connection counts as a failure too
                    status, data = 0, repr(exc)
                with lock:
                    answers.append((kind, status, data))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client was still waiting for an answer after 2 min"

    statuses = Counter((kind, status) for kind, status, _data in answers)
    failures = [(kind, status, str(data)[:300]) for kind, status, data in answers if status != 201]
    assert len(answers) == CLIENTS * ROUNDS * 2
    assert not failures, f"{len(failures)} of {len(answers)} failed: {statuses}; first: {failures[:3]}"

    # Everything that was answered 201 is really there, each session with a code of its own.
    status, sessions = server.call("GET", f"/api/v1/sessions?limit={CLIENTS * ROUNDS}", token=token)
    assert status == 200
    codes = {s["code"] for s in sessions["results"] if s["customer_name"].startswith("Customer ")}
    assert len(codes) == CLIENTS * ROUNDS
    status, invitations = server.call("GET", f"/api/v1/invitations?limit={CLIENTS * ROUNDS + 10}", token=token)
    assert status == 200
    assert invitations["count"] == CLIENTS * ROUNDS


def test_a_busy_embedded_server_still_answers_reads(embedded_server):
    """Readers are not held up by writers (WAL): pages and lists answer while sessions are being created."""
    server = embedded_server("embedded-reads")
    status, signed_in = server.call(
        "POST",
        "/api/v1/auth/token",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "device": {"name": "reads", "platform": "linux"}},
    )
    assert status == 200, signed_in
    token = signed_in["access_token"]
    results: list[int] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(10):
            status, _data = server.call(
                "POST", "/api/v1/sessions", {"customer_name": secrets.token_hex(4)}, token=token
            )
            with lock:
                results.append(status)

    def reader() -> None:
        for _ in range(10):
            status, _data = server.call("GET", "/api/v1/sessions", token=token)
            with lock:
                results.append(status)

    threads = [threading.Thread(target=fn, daemon=True) for fn in (writer, writer, writer, reader, reader, reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(results) == Counter({201: 30, 200: 30}), Counter(results)
