"""The product's Prometheus metrics, defined once, and the ``/metrics`` endpoint that exposes them (docs/operations.md).

- Each metric is a module-level object; the code that moves it calls the small functions below, so the hot paths
  (relaying a message, accepting a socket) cost one increment on a child made at import, never a label lookup.
- Labels come from fixed sets (socket kinds, protocol message types, URL pattern names, status classes): nothing a
  client sends becomes a label value, so the number of series stays bounded.
- With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts), every process writes its values to files there
  and a scrape of any one of them sums them all (``prometheus_client.multiprocess``); without it, the process's own
  registry answers.
- ``/metrics`` answers only the addresses in ``CONNECT_METRICS_ALLOWED_IPS``; everyone else gets the product's 404.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import os
import time
from collections.abc import Iterable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from signaling.protocol import CLIENT_TYPES

logger = logging.getLogger(__name__)

OTHER = "other"

# No ``*_created`` series beside every counter and histogram: they double the output and no alert reads them.
disable_created_metrics()

# --- WebSocket ---------------------------------------------------------------------------------------------------

SOCKETS = ("session", "hello", "org_live", "machine", "meeting")
WEBSOCKET_CONNECTIONS = Gauge(
    "connect_websocket_connections",
    "WebSocket connections open now (accepted and not yet disconnected), by socket.",
    ["socket"],
    multiprocess_mode="livesum",  # summed over live processes: one that exits takes its connections with it
)
_connections = {name: WEBSOCKET_CONNECTIONS.labels(socket=name) for name in (*SOCKETS, OTHER)}

RELAYED_MESSAGES = Counter(
    "connect_relayed_messages",
    "Messages one party of a support session sent that were relayed to the other, by protocol message type.",
    ["type"],
)
_relayed = {
    name: RELAYED_MESSAGES.labels(type=name) for name in [*(n for n, t in CLIENT_TYPES.items() if t.relayed), OTHER]
}

SESSION_SETUPS = Counter(
    "connect_session_setups",
    "Session sockets that got as far as their hello: authenticated, authorized and ready to relay.",
)
SESSION_SETUP_SECONDS = Histogram(
    "connect_session_setup_seconds",
    "From a session socket's connect handler starting to its hello being sent.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def socket_opened(socket: str) -> None:
    _connections.get(socket, _connections[OTHER]).inc()


def socket_closed(socket: str) -> None:
    _connections.get(socket, _connections[OTHER]).dec()


def message_relayed(message_type: str) -> None:
    _relayed.get(message_type, _relayed[OTHER]).inc()


def session_ready(started: float) -> None:
    """A session socket sent its hello; ``started`` is the ``time.monotonic()`` its connect began at."""
    SESSION_SETUPS.inc()
    SESSION_SETUP_SECONDS.observe(time.monotonic() - started)


# --- HTTP --------------------------------------------------------------------------------------------------------

HTTP_REQUEST_SECONDS = Histogram(
    "connect_http_request_seconds",
    "HTTP requests by URL pattern name (or 'unmatched'), method and status class, and the time each took.",
    ["route", "method", "status"],
)
# Any token is a valid HTTP method: only these become a label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(request: HttpRequest) -> str:
    """The URL pattern, never the path: ``v1:session`` for every session's detail page."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name if match.url_name else (match.route or "unmatched")


def _observe_request(request: HttpRequest, status_code: int, started: float) -> None:
    method = request.method if request.method in _METHODS else OTHER
    HTTP_REQUEST_SECONDS.labels(_route(request), method, f"{status_code // 100}xx").observe(time.monotonic() - started)


def http_metrics_middleware(get_response):
    """Times every request the project answers. Both sync and async, so it adds no thread hop under ASGI."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            started = time.monotonic()
            response = await get_response(request)
            _observe_request(request, response.status_code, started)
            return response

        return markcoroutinefunction(middleware)

    def middleware(request):
        started = time.monotonic()
        response = get_response(request)
        _observe_request(request, response.status_code, started)
        return response

    return middleware


http_metrics_middleware.sync_capable = True
http_metrics_middleware.async_capable = True

# --- Webhooks (counted where the delivery is attempted: on a Celery worker, or in the web process when eager) ------

WEBHOOK_DELIVERIES = Counter(
    "connect_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered (2xx), failed (will be retried), gave_up (no more attempts).",
    ["outcome"],
)
WEBHOOK_DELIVERY_LAG_SECONDS = Histogram(
    "connect_webhook_delivery_lag_seconds",
    "From the event's creation to a delivery attempt; 'first' attempts show the queue's backlog, 'retry' the backoff.",
    ["attempt"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 18000, 36000, 86400),
)
_deliveries = {name: WEBHOOK_DELIVERIES.labels(outcome=name) for name in ("delivered", "failed", "gave_up")}
_lag = {name: WEBHOOK_DELIVERY_LAG_SECONDS.labels(attempt=name) for name in ("first", "retry")}


def webhook_attempted(*, outcome: str, lag_seconds: float | None = None, first: bool = True) -> None:
    """One delivery attempt ended with ``outcome``; ``lag_seconds`` is how long after the event it was made."""
    _deliveries[outcome].inc()
    if lag_seconds is not None:
        _lag["first" if first else "retry"].observe(max(0.0, lag_seconds))


# --- Celery queue depth, read from the broker at scrape time ------------------------------------------------------


class CeleryQueueCollector(Collector):
    """``connect_celery_queue_depth``: ``LLEN`` of each queue's list when the broker is Redis. With eager Celery
    (embedded mode) or another broker there is no queue to read, and the metric is left out."""

    name = "connect_celery_queue_depth"
    documentation = "Tasks waiting in the Celery broker's queue (Redis LLEN), read at scrape time."

    def __init__(self) -> None:
        self._clients: dict[str, object] = {}

    def describe(self):
        # Without describe, registering the collector would run collect() (and reach Redis) at import.
        return [GaugeMetricFamily(self.name, self.documentation, labels=["queue"])]

    def collect(self):
        queues = [q.strip() for q in settings.CONNECT_METRICS_CELERY_QUEUES.split(",") if q.strip()]
        url = settings.CELERY_BROKER_URL
        if settings.CELERY_TASK_ALWAYS_EAGER or not queues or not url.startswith(("redis://", "rediss://")):
            return
        import redis

        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue)
                depths = pipe.execute()
        except redis.RedisError as exc:
            # The scrape still answers with everything else; the gap in this series is the signal.
            logger.warning("metrics: could not read the Celery queue depth: %s", exc)
            return
        family = GaugeMetricFamily(self.name, self.documentation, labels=["queue"])
        for queue, depth in zip(queues, depths, strict=True):
            family.add_metric([queue], depth)
        yield family


celery_queues = CeleryQueueCollector()
REGISTRY.register(celery_queues)

# --- Multiprocess mode ---------------------------------------------------------------------------------------------

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    from prometheus_client import multiprocess

    # A process that exits cleanly takes its open-connection gauges with it; counters and histograms stay summed.
    atexit.register(multiprocess.mark_process_dead, os.getpid())


def scrape_registry() -> Collector:
    """What a scrape reports: every process's values when ``PROMETHEUS_MULTIPROC_DIR`` is set, else this one's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    from prometheus_client import multiprocess

    # A new registry per scrape, as the library advises: the files are read afresh each time.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(celery_queues)
    return registry


# --- The endpoint --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def allowed_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``CONNECT_METRICS_ALLOWED_IPS`` parsed: addresses and networks, comma-separated; empty: none."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"CONNECT_METRICS_ALLOWED_IPS: {item!r} is not an IP or a network") from exc
    return tuple(networks)


def address_allowed(address: str, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # no address (a Unix socket) or not one: not on the list
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` in Prometheus's text format. ``REMOTE_ADDR`` is the client as the server sees it: the peer,
    or the ``X-Forwarded-For`` of a load balancer named in ``CONNECT_FORWARDED_ALLOW_IPS`` (connect.serve), the
    same address rate limits and audit use. Anyone not on the list, or every one when the list is empty, gets the
    product's 404: the endpoint does not exist for them."""
    networks = allowed_networks(settings.CONNECT_METRICS_ALLOWED_IPS)
    if not address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        raise Http404
    # The text format the scraper asks for (its Accept header), as the library's own exporters choose it.
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
