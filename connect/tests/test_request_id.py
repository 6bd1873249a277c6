"""Request ids (connect.request_id): every response says its id in ``X-Request-ID``; an id a trusted load balancer
sent is kept and any other is replaced; the id is on every log line of the request, in both log formats, and follows
the request into the Celery tasks it enqueues, eager or published to a broker and run by a worker."""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import io
import json
import logging
import os
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from celery.worker.request import Request
from django.conf import settings
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from connect import request_id
from connect.asgi import application
from connect.celery import app as celery_app
from connect.request_id import ConnectionRequestId, JsonFormatter, RequestIdFilter, current_request_id
from tests.e2e.servers import Server, running_server, server_env

ROOT = Path(settings.BASE_DIR)
GENERATED = re.compile(r"[0-9a-f]{32}")
LOGGER = "connect.tests.request_id"
logger = logging.getLogger(LOGGER)

# --- A tiny project surface: views that log and enqueue, an eager task, and a task published to a real broker ------

task_ids: list[tuple[str, str]] = []


@celery_app.task(name="connect.tests.request_id.record")
def record_request_id(label: str) -> None:
    """The product's Celery app, eager in tests (conftest): the task runs inside the view that enqueued it."""
    logger.info("task for %s", label)
    task_ids.append((label, current_request_id()))


# Another Celery app on kombu's in-memory broker, eager off: ``delay`` publishes a real message, which a test then
# runs the way a worker does (celery.worker.request.Request).
broker_app = Celery("request-id-tests", broker="memory://", set_as_current=False)
broker_app.conf.task_default_queue = "request-id-tests"


@broker_app.task(name="connect.tests.request_id.published")
def published_task(label: str) -> str:
    logger.info("published task for %s", label)
    return current_request_id()


def sync_view(request):
    logger.info("in the sync view")
    record_request_id.delay("sync")
    return HttpResponse(current_request_id())


async def async_view(request):
    logger.info("in the async view")
    await sync_to_async(record_request_id.delay)("async")  # a thread: sync_to_async copies the context into it
    return HttpResponse(current_request_id())


def publishing_view(request):
    published_task.delay("publishing")
    return HttpResponse(current_request_id())


urlpatterns = [path("sync/", sync_view), path("async/", async_view), path("publish/", publishing_view)]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every line logged during the test, through the filter and the JSON formatter ``CONNECT_LOG_FORMAT=json``
    configures (the pytest process itself logs plain)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    task_ids.clear()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        logger.setLevel(previous)


def lines(stream: io.StringIO, name: str = LOGGER) -> list[tuple[str, str]]:
    """``(message, request_id)`` of the lines logger ``name`` wrote."""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [(r["message"], r["request_id"]) for r in records if r["logger"] == name]


# --- HTTP: the header and who may set it --------------------------------------------------------------------------


def test_every_response_has_an_id_of_its_own(client):
    first, second = client.get("/sync/"), client.get("/sync/")
    assert GENERATED.fullmatch(first["X-Request-ID"]) and GENERATED.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert first.content.decode() == first["X-Request-ID"]  # the view ran under the id the response reports
    assert current_request_id() == ""  # and nothing is left behind for the next request


def test_product_pages_and_errors_carry_it_too(client, json_log):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and GENERATED.fullmatch(response["X-Request-ID"])
    # Django logs the 404 once the middleware has returned: the line still carries the request's id.
    assert lines(json_log, "django.request") == [("Not Found: /no-such-page/", response["X-Request-ID"])]


def test_an_id_from_a_client_that_is_no_trusted_proxy_is_replaced(client):
    assert settings.CONNECT_FORWARDED_ALLOW_IPS == ""  # the default: no load balancer is believed
    response = client.get("/sync/", headers={"X-Request-ID": "lb-0123456789"})
    assert GENERATED.fullmatch(response["X-Request-ID"])


@override_settings(CONNECT_FORWARDED_ALLOW_IPS="10.0.0.5, 192.168.0.0/16")
@pytest.mark.parametrize("peer", ["10.0.0.5", "192.168.7.1"])
def test_a_well_formed_id_from_a_trusted_proxy_is_kept(client, peer):
    response = client.get("/sync/", headers={"X-Request-ID": "lb-0123456789"}, REMOTE_ADDR=peer)
    assert response["X-Request-ID"] == "lb-0123456789"
    assert response.content == b"lb-0123456789"


@override_settings(CONNECT_FORWARDED_ALLOW_IPS="10.0.0.5")
@pytest.mark.parametrize(
    "sent",
    ["", "has spaces", "semi;colon", "caf\u00e9", "a" * 65, "x\r\nSet-Cookie: a=b", "<script>", "ok" * 40],
)
def test_a_malformed_or_oversized_id_is_replaced_even_from_a_trusted_proxy(client, sent):
    response = client.get("/sync/", headers={"X-Request-ID": sent}, REMOTE_ADDR="10.0.0.5")
    assert GENERATED.fullmatch(response["X-Request-ID"])


@override_settings(CONNECT_FORWARDED_ALLOW_IPS="10.0.0.5")
def test_the_longest_id_kept_is_64_characters(client):
    sent = "A1b2-_." * 9 + "x"
    assert len(sent) == 64
    assert client.get("/sync/", headers={"X-Request-ID": sent}, REMOTE_ADDR="10.0.0.5")["X-Request-ID"] == sent


async def asgi_get(path: str, *, client: tuple[str, int], peer: tuple[str, int], headers: dict[str, str]) -> dict:
    """One request through the product's ASGI application with the scope connect.serve gives it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": client,
        "server": ("127.0.0.1", 8000),
        request_id.PEER_SCOPE_KEY: peer,
    }
    sent: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: Django cancels this once it has answered
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"headers": {k.decode().lower(): v.decode() for k, v in start["headers"]}, "body": body}


@override_settings(CONNECT_FORWARDED_ALLOW_IPS="10.0.0.5")
async def test_under_asgi_the_tcp_peer_decides_not_the_forwarded_client():
    """connect.serve records the peer before uvicorn replaces ``client`` with the address a balancer forwarded."""
    headers = {"X-Request-ID": "lb-0123456789"}
    # Through the balancer: the client is the forwarded address, the peer the balancer.
    proxied = await asgi_get("/async/", headers=headers, client=("203.0.113.9", 0), peer=("10.0.0.5", 40000))
    assert proxied["headers"]["x-request-id"] == "lb-0123456789" and proxied["body"] == b"lb-0123456789"
    # Straight from a client whose own address happens to be the balancer's (uvicorn believed nothing).
    direct = await asgi_get("/async/", headers=headers, client=("10.0.0.5", 0), peer=("198.51.100.4", 40000))
    assert GENERATED.fullmatch(direct["headers"]["x-request-id"])


# --- Log lines of the request and of its tasks --------------------------------------------------------------------


def test_log_lines_of_a_sync_view_and_of_its_eager_task_carry_the_id(client, json_log):
    response = client.get("/sync/")
    request_id_ = response["X-Request-ID"]
    assert lines(json_log) == [
        ("in the sync view", request_id_),
        ("task for sync", request_id_),
    ]
    assert task_ids == [("sync", request_id_)]


async def test_log_lines_of_an_async_view_and_of_its_eager_task_carry_the_id(async_client, json_log):
    response = await async_client.get("/async/")
    request_id_ = response["X-Request-ID"]
    assert GENERATED.fullmatch(request_id_)
    assert lines(json_log) == [
        ("in the async view", request_id_),
        ("task for async", request_id_),
    ]
    assert task_ids == [("async", request_id_)]


def test_a_task_published_during_a_request_runs_on_the_worker_under_its_id(client, json_log):
    response = client.get("/publish/")
    request_id_ = response["X-Request-ID"]
    with broker_app.connection_for_read() as connection:
        queue = connection.SimpleQueue("request-id-tests")
        try:
            message = queue.get(timeout=10)
        finally:
            queue.close()
    assert message.headers[request_id.TASK_HEADER] == request_id_

    def as_a_worker() -> tuple[str, str]:
        assert current_request_id() == ""  # a worker process: no request around it
        returned = Request(message, app=broker_app).execute()
        return returned, current_request_id()

    returned, after = contextvars.Context().run(as_a_worker)
    assert returned == request_id_  # the task saw the request's id
    assert after == ""  # and the worker's next task starts without one
    assert lines(json_log) == [("published task for publishing", request_id_)]


def test_the_signal_handlers_on_their_own():
    headers: dict = {}
    request_id.add_request_id_to_message(headers=headers)
    assert headers == {}  # nothing to carry outside a request
    token = request_id._request_id.set("req-1")
    try:
        request_id.add_request_id_to_message(headers=headers)
        assert headers == {request_id.TASK_HEADER: "req-1"}
    finally:
        request_id._request_id.reset(token)

    class Task:
        class request:  # noqa: N801 - Celery's attribute name
            pass

    task = Task()
    setattr(task.request, request_id.TASK_HEADER, "not well formed!")
    request_id.set_request_id_for_task(task=task)
    assert current_request_id() == ""  # a header that is not an id is ignored
    setattr(task.request, request_id.TASK_HEADER, "req-2")
    request_id.set_request_id_for_task(task=task)
    assert current_request_id() == "req-2"
    request_id.reset_request_id_after_task(task=task)
    assert current_request_id() == ""


def test_a_worker_logs_through_the_projects_logging():
    """Celery replaces the root logger's handlers with its own format unless ``setup_logging`` has a receiver."""
    from celery.signals import setup_logging

    receivers = [r() if isinstance(r, weakref.ReferenceType) else r for _, r in setup_logging.receivers]
    assert request_id.configure_worker_logging in receivers


# --- WebSocket connections ----------------------------------------------------------------------------------------


async def test_each_websocket_connection_runs_under_an_id_of_its_own():
    seen = []

    async def consumer(scope, receive, send):
        seen.append(current_request_id())
        await sync_to_async(lambda: seen.append(current_request_id()))()

    wrapped = ConnectionRequestId(consumer)
    await wrapped({"type": "websocket"}, None, None)
    await wrapped({"type": "websocket"}, None, None)
    assert all(GENERATED.fullmatch(value) for value in seen)
    assert seen[0] == seen[1] != seen[2] == seen[3]
    assert current_request_id() == ""
    assert isinstance(application.application_mapping["websocket"], ConnectionRequestId)


# --- The formats ------------------------------------------------------------------------------------------------


def _record(message: str, exc_info=None) -> logging.LogRecord:
    record = logging.getLogger("connect.somewhere").makeRecord(
        "connect.somewhere", logging.ERROR, __file__, 1, message, (), exc_info
    )
    RequestIdFilter().filter(record)
    return record


def test_the_json_formatter_writes_one_object_with_the_fields():
    token = request_id._request_id.set("req-json")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = _record('it "broke"\nbadly', exc_info=sys.exc_info())
    finally:
        request_id._request_id.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line  # one line per record, the traceback included
    data = json.loads(line)
    assert list(data)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert data["level"] == "ERROR" and data["logger"] == "connect.somewhere"
    assert data["message"] == 'it "broke"\nbadly' and data["request_id"] == "req-json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", data["time"])
    assert "ValueError: boom" in data["exception"]


def test_outside_a_request_the_id_is_empty_in_both_formats():
    record = _record("no request here")
    assert json.loads(JsonFormatter().format(record))["request_id"] == ""
    assert "exception" not in json.loads(JsonFormatter().format(record))
    plain = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert plain.endswith(" ERROR connect.somewhere [] no request here")


def test_the_plain_format_is_the_default_and_shows_the_id():
    assert settings.CONNECT_LOG_FORMAT == "plain" and settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    token = request_id._request_id.set("req-plain")
    try:
        record = _record("hello")
    finally:
        request_id._request_id.reset(token)
    assert (
        logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
        .format(record)
        .endswith(" ERROR connect.somewhere [req-plain] hello")
    )


def test_an_unknown_log_format_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CONNECT_"))}
    env.update(DJANGO_SETTINGS_MODULE="connect.settings", CONNECT_VAR_DIR=str(tmp_path), CONNECT_LOG_FORMAT="xml")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "CONNECT_LOG_FORMAT must be plain or json" in result.stderr


# --- The real server: the TCP peer decides, and every line it writes is JSON ----------------------------------------


@pytest.fixture(scope="module")
def json_server(tmp_path_factory) -> Iterator[Server]:
    """``python -m connect.serve`` behind a "load balancer" on 127.0.0.1; other loopback addresses (127.0.0.2) are
    clients connecting directly. No migrations: nothing here reads a table (/healthz runs ``SELECT 1``)."""
    var_dir = tmp_path_factory.mktemp("request-id")
    env = server_env(var_dir, CONNECT_FORWARDED_ALLOW_IPS="127.0.0.1", CONNECT_LOG_FORMAT="json")
    with running_server("request-id", env, var_dir / "logs") as server:
        yield server


def get_from(server: Server, source: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Request-ID")
    finally:
        connection.close()


def test_the_server_keeps_a_balancers_id_and_logs_json_lines_carrying_it(json_server):
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "lb-from-the-balancer"}
    assert get_from(json_server, "127.0.0.1", "/no-such-page/", headers) == (404, "lb-from-the-balancer")
    status, replaced = get_from(
        json_server, "127.0.0.2", "/no-such-page/", dict(headers, **{"X-Request-ID": "lb-forged"})
    )
    assert status == 404 and GENERATED.fullmatch(replaced)

    # Every line is one JSON object, the server's own (startup, access) included.
    records = [json.loads(line) for line in json_server.log.read_text().splitlines()]
    assert {"uvicorn.error", "uvicorn.access"} <= {r["logger"] for r in records}
    not_found = [r for r in records if r["logger"] == "django.request" and "/no-such-page/" in r["message"]]
    assert [r["request_id"] for r in not_found] == ["lb-from-the-balancer", replaced]
