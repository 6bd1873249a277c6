"""A request id on every log line: one per HTTP request, per WebSocket connection and per Celery task, the task's being
the id of the request (or task) that enqueued it, so one id finds everything a request caused (docs/operations.md).

- :func:`request_id_middleware` (first in ``MIDDLEWARE``) keeps a well-formed ``X-Request-ID`` sent by a load balancer
  named in ``CONNECT_FORWARDED_ALLOW_IPS`` (the ones whose ``X-Forwarded-For`` is believed, connect.serve), makes one
  up otherwise, and returns it in the response's ``X-Request-ID``.
- :class:`ConnectionRequestId` gives each WebSocket connection one (always made up: the handshake is not answered here).
- The Celery signal handlers carry it in the task message's headers and set it in the worker while the task runs; an
  eager task (the embedded mode, the tests) runs inside its caller and simply keeps the caller's.
- :class:`RequestIdFilter` puts it on every record as ``request_id`` ("" outside any request), for the ``plain`` and
  ``json`` formats of ``CONNECT_LOG_FORMAT`` (:class:`JsonFormatter`).

The id lives in a :class:`contextvars.ContextVar`: asyncio tasks and asgiref's ``sync_to_async`` copy the context,
so sync and async views, consumers and the threads they hand work to all see the id of their request.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import secrets
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

HEADER = "X-Request-ID"
# Where connect.serve records the TCP peer in the ASGI scope, before uvicorn's proxy middleware replaces ``client``
# with the address a trusted balancer forwarded.
PEER_SCOPE_KEY = "connect.peer"
# The task message header that carries the id to the worker.
TASK_HEADER = "connect_request_id"
# What load balancers send (nginx's $request_id, UUIDs, trace ids): anything else is replaced, never logged.
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")

_request_id: ContextVar[str] = ContextVar("connect_request_id", default="")


def current_request_id() -> str:
    """The id of the request, connection or task this code runs for; "" outside any."""
    return _request_id.get()


def new_request_id() -> str:
    return secrets.token_hex(16)


def well_formed(value: object) -> bool:
    return isinstance(value, str) and WELL_FORMED.fullmatch(value) is not None


# --- HTTP ---------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _trusted_proxies(value: str) -> tuple[bool, tuple[Any, ...], frozenset[str]]:
    """``CONNECT_FORWARDED_ALLOW_IPS`` read as uvicorn reads it: ``*``, addresses and networks, other literals as is."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    networks, literals = [], set()
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            literals.add(item)
    return "*" in items, tuple(networks), frozenset(literals)


def from_trusted_proxy(peer: str) -> bool:
    trust_all, networks, literals = _trusted_proxies(settings.CONNECT_FORWARDED_ALLOW_IPS)
    if trust_all or peer in literals:
        return True
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _peer(request) -> str:
    """The TCP peer: recorded by connect.serve under ASGI (``REMOTE_ADDR`` may be a forwarded client's by then)."""
    scope = getattr(request, "scope", None)
    if scope is not None and PEER_SCOPE_KEY in scope:
        peer = scope[PEER_SCOPE_KEY]
        return str(peer[0]) if peer else ""
    return request.META.get("REMOTE_ADDR", "")


def request_id_for(request) -> str:
    incoming = request.headers.get(HEADER)
    if incoming is not None and well_formed(incoming) and from_trusted_proxy(_peer(request)):
        return incoming
    return new_request_id()


def request_id_middleware(get_response):
    """Sets the request's id for everything below it and returns it in ``X-Request-ID``. Both sync and async, so it
    adds no thread hop under ASGI."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            request_id = request.request_id = request_id_for(request)
            token = _request_id.set(request_id)
            try:
                response = await get_response(request)
            finally:
                _request_id.reset(token)
            response.headers[HEADER] = request_id
            return response

        return markcoroutinefunction(middleware)

    def middleware(request):
        request_id = request.request_id = request_id_for(request)
        token = _request_id.set(request_id)
        try:
            response = get_response(request)
        finally:
            _request_id.reset(token)
        response.headers[HEADER] = request_id
        return response

    return middleware


request_id_middleware.sync_capable = True
request_id_middleware.async_capable = True


# --- WebSocket ----------------------------------------------------------------------------------------------------


class ConnectionRequestId:
    """ASGI middleware: one id for the whole of a WebSocket connection (its log lines and the tasks it enqueues). It
    does not wrap ``send``, so relayed messages pay nothing for it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        token = _request_id.set(new_request_id())
        try:
            await self.app(scope, receive, send)
        finally:
            _request_id.reset(token)


# --- Celery -------------------------------------------------------------------------------------------------------


def add_request_id_to_message(headers: dict | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: the publishing request's (or task's) id goes into the message."""
    request_id = _request_id.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def set_request_id_for_task(task=None, **kwargs: Any) -> None:
    """``task_prerun``: on a worker, the task runs under the id its message carries. An eager task's request has no
    such header (nothing was published): it keeps its caller's id, which it runs inside."""
    request = getattr(task, "request", None)
    request_id = getattr(request, TASK_HEADER, None)
    if request is not None and well_formed(request_id):
        request._connect_request_id_token = _request_id.set(request_id)


def reset_request_id_after_task(task=None, **kwargs: Any) -> None:
    """``task_postrun``: the worker's next task starts with no id."""
    request = getattr(task, "request", None)
    token = getattr(request, "_connect_request_id_token", None)
    if token is not None:
        _request_id.reset(token)
        request._connect_request_id_token = None


def configure_worker_logging(**kwargs: Any) -> None:
    """``setup_logging``: a worker logs through the project's ``LOGGING`` (format, request id), not Celery's own
    (a receiver of this signal stops Celery from replacing the root logger's handlers)."""
    import logging.config

    logging.config.dictConfig(settings.LOGGING)


def connect_celery_signals() -> None:
    before_task_publish.connect(add_request_id_to_message, weak=False, dispatch_uid="connect.request_id.publish")
    task_prerun.connect(set_request_id_for_task, weak=False, dispatch_uid="connect.request_id.prerun")
    task_postrun.connect(reset_request_id_after_task, weak=False, dispatch_uid="connect.request_id.postrun")
    setup_logging.connect(configure_worker_logging, weak=False, dispatch_uid="connect.request_id.logging")


# --- Logging ------------------------------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record the handler writes ("" outside any request); filters nothing out.

    Django logs a response's 4xx or 5xx status ("Not Found: /x", logger ``django.request``) after the middleware has
    returned: such records carry the request itself, whose id the middleware noted on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _request_id.get()
        if not request_id:
            request_id = getattr(getattr(record, "request", None), "request_id", "")
        record.request_id = request_id if isinstance(request_id, str) else ""
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per line (python-json-logger): ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    ``request_id``, and ``exception`` (the traceback) when there is one; ``extra=`` fields are added as they are."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "exc_info": "exception"})
        super().__init__(**kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {"time": log_data.pop("time", None), **log_data}  # time first, for people reading the raw lines
