"""The Prometheus endpoint (connect.metrics): who may read it, and that what operators watch moves when the product
works: API requests by route, WebSocket connections and session set-ups, relayed messages, webhook deliveries, the
Celery queue, and the sum over several processes. Counts only, never timings."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from connect import metrics
from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from integrations.tests.factories import WebhookDeliveryFactory
from integrations.webhooks import services as webhooks
from signaling import consumers
from signaling.tests.test_session_consumer import ORIGIN, agent_socket, customer_socket, new_session, next_of

ROOT = Path(django_settings.BASE_DIR)


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def live_value(name: str, **labels) -> float:
    """This process's own value (the default registry), for the asynchronous tests."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# --- who may read it ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_allowed_address_reads_every_metric(client):
    text = client.get("/metrics").content.decode()  # the test client comes from 127.0.0.1
    for name in (
        "connect_websocket_connections",
        "connect_relayed_messages_total",
        "connect_session_setups_total",
        "connect_session_setup_seconds",
        "connect_http_request_seconds",
        "connect_webhook_deliveries_total",
        "connect_webhook_delivery_lag_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'connect_websocket_connections{socket="session"}' in text


@pytest.mark.django_db
def test_a_network_on_the_list_is_allowed_and_ipv4_mapped_addresses_match(client, settings):
    settings.CONNECT_METRICS_ALLOWED_IPS = "10.1.0.0/16, 2001:db8::1"
    assert client.get("/metrics", REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.0.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404  # the default no longer applies


@pytest.mark.django_db
def test_any_other_address_gets_the_products_404(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    missing = client.get("/no-such-page", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 404 == missing.status_code
    assert response["Content-Type"] == missing["Content-Type"]
    assert b"connect_" not in response.content


@pytest.mark.django_db
def test_an_empty_list_turns_the_endpoint_off(client, settings):
    settings.CONNECT_METRICS_ALLOWED_IPS = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 404


def test_a_malformed_list_is_refused_with_its_entry_named():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="not-an-ip"):
        metrics.allowed_networks("127.0.0.1,not-an-ip")


# --- HTTP --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_api_request_is_counted_by_its_route_never_its_path(client, bob):
    client.force_login(bob)
    before = scrape(client)
    assert client.get("/api/v1/sessions").status_code == 200
    assert client.get("/api/v1/sessions/ses_doesnotexist").status_code == 404
    assert client.get("/no/such/page/42").status_code == 404
    after = scrape(client)

    count = "connect_http_request_seconds_count"
    listed = {"route": "v1:sessions", "method": "GET", "status": "2xx"}
    assert value(after, count, **listed) == value(before, count, **listed) + 1
    detail = {"route": "v1:session", "method": "GET", "status": "4xx"}
    assert value(after, count, **detail) == value(before, count, **detail) + 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "4xx"}
    assert value(after, count, **unmatched) == value(before, count, **unmatched) + 1
    text = client.get("/metrics").content.decode()
    assert "ses_doesnotexist" not in text and "no/such" not in text


@pytest.mark.django_db
def test_an_unknown_method_does_not_become_a_label(client):
    client.generic("BREW", "/healthz")
    assert not any(("method", "BREW") in labels for _, labels in scrape(client))


# --- WebSocket ---------------------------------------------------------------------------------------------------


@pytest.fixture
def _no_stray_grace_timers():
    yield
    for task in list(consumers.grace_timers):
        task.cancel()


@pytest.mark.django_db(transaction=True)
async def test_session_sockets_are_counted_open_and_closed_and_set_ups_and_relays_counted(
    acme, bob, _no_stray_grace_timers
):
    gauge, setups = "connect_websocket_connections", "connect_session_setups_total"
    open_before, setups_before = live_value(gauge, socket="session"), live_value(setups)
    timed_before = live_value("connect_session_setup_seconds_count")
    relayed_before = live_value("connect_relayed_messages_total", type="offer")

    session_id, token = await new_session(bob)
    agent = await agent_socket(bob, session_id)
    customer = await customer_socket(session_id, token)
    assert live_value(gauge, socket="session") == open_before + 2
    assert live_value(setups) == setups_before + 2
    assert live_value("connect_session_setup_seconds_count") == timed_before + 2

    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await next_of(customer, "state")
    await agent.send_json_to({"type": "offer", "sdp": "v=0"})
    await next_of(customer, "offer")
    assert live_value("connect_relayed_messages_total", type="offer") == relayed_before + 1

    await customer.disconnect()
    assert live_value(gauge, socket="session") == open_before + 1
    await agent.disconnect()
    assert live_value(gauge, socket="session") == open_before


@pytest.mark.django_db(transaction=True)
async def test_a_refused_socket_is_never_counted(acme, _no_stray_grace_timers):
    before = live_value("connect_websocket_connections", socket="session")
    setups = live_value("connect_session_setups_total")
    communicator = WebsocketCommunicator(application, "/ws/v1/sessions/ses_nosuchsession", headers=[ORIGIN])
    connected, _ = await communicator.connect()  # anonymous: closed before it is accepted
    assert not connected
    assert live_value("connect_websocket_connections", socket="session") == before
    assert live_value("connect_session_setups_total") == setups


@pytest.mark.django_db(transaction=True)
async def test_the_presence_socket_counts_under_its_own_label(bob):
    before = live_value("connect_websocket_connections", socket="hello")
    cookie = await session_cookie_for(bob)
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()
    assert live_value("connect_websocket_connections", socket="hello") == before + 1
    await communicator.disconnect()
    assert live_value("connect_websocket_connections", socket="hello") == before


# --- webhooks ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_deliveries_are_counted_by_outcome(client, acme, receiver):
    endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url)
    before = scrape(client)
    receiver.responses = [(200, {}), (500, {}), (410, {})]
    for _ in range(3):
        delivery = WebhookDeliveryFactory(event__organization=acme, event__type="webhook.test", endpoint=endpoint)
        webhooks.attempt(delivery.pk)
    assert len(receiver.requests) == 3
    after = scrape(client)

    for outcome in ("delivered", "failed", "gave_up"):
        name = "connect_webhook_deliveries_total"
        assert value(after, name, outcome=outcome) == value(before, name, outcome=outcome) + 1, outcome
    lag = "connect_webhook_delivery_lag_seconds_count"
    assert value(after, lag, attempt="first") == value(before, lag, attempt="first") + 3


# --- Celery queue depth --------------------------------------------------------------------------------------------


@pytest.fixture
def redis_broker():
    """A redis-server of this test's own on a free port, so the queue read is real and touches no one else's."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url, client
    finally:
        client.close()
        server.terminate()
        server.wait(10)


@pytest.mark.django_db
def test_the_queue_depth_is_read_from_a_redis_broker(client, settings, redis_broker):
    url, broker = redis_broker
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = url, False
    settings.CONNECT_METRICS_CELERY_QUEUES = "celery,mail"
    broker.rpush("celery", "a", "b", "c")
    samples = scrape(client)
    assert value(samples, "connect_celery_queue_depth", queue="celery") == 3
    assert ("connect_celery_queue_depth", frozenset({("queue", "mail")})) in samples  # an empty queue is a 0
    assert value(samples, "connect_celery_queue_depth", queue="mail") == 0


@pytest.mark.django_db
def test_no_queue_depth_with_eager_celery_or_an_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = "memory://", True
    assert not any(name == "connect_celery_queue_depth" for name, _ in scrape(client))
    with socket.socket() as probe:  # a port nothing listens on: the rest of the scrape still answers
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = f"redis://127.0.0.1:{closed}/0", False
    samples = scrape(client)
    assert not any(name == "connect_celery_queue_depth" for name, _ in samples)
    assert any(name == "connect_http_request_seconds_count" for name, _ in samples)


# --- several processes ---------------------------------------------------------------------------------------------

WORKER = """
import sys
from connect import metrics
metrics.socket_opened("session")
metrics.message_relayed("offer")
metrics.webhook_attempted(outcome="delivered", lag_seconds=1.0)
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.mark.django_db
def test_several_processes_are_summed_and_an_exited_ones_connections_are_gone(client, tmp_path, monkeypatch):
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    environment.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        running = scrape(client)
        assert value(running, "connect_websocket_connections", socket="session") == 2
        assert value(running, "connect_relayed_messages_total", type="offer") == 2
        assert value(running, "connect_webhook_deliveries_total", outcome="delivered") == 2

        for worker in workers:
            worker.communicate("\n", timeout=30)
            assert worker.returncode == 0
        exited = scrape(client)
        assert value(exited, "connect_websocket_connections", socket="session") == 0
        assert value(exited, "connect_relayed_messages_total", type="offer") == 2  # what happened stays counted
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
