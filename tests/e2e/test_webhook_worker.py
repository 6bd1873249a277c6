"""A webhook delivery interrupted by killing its Celery worker is delivered exactly once more.

Real processes: Celery workers on the Redis broker, sharing the test's PostgreSQL database, and a receiver on
loopback that hangs on the first request so the worker can be killed in the middle of it.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from django.db import connection
from django.utils import timezone

from connect.celery import app
from integrations.models import WebhookDelivery, WebhookEvent
from integrations.tests.receiver import Receiver
from integrations.webhooks import services as webhooks

from .servers import PYTHON, REPO, require_services, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_delivery_is_delivered_exactly_once_more(acme, tmp_path, settings):
    database_url, redis_url = require_services()
    # The endpoint is saved here, under the same rule as delivery (loopback allowed for the test's receiver).
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiver = Receiver(hold_first=True)
    settings_dict = connection.settings_dict
    worker_env = server_env(
        tmp_path,
        DATABASE_URL=f"postgres://{settings_dict['USER'] or 'postgres'}@{settings_dict['HOST'] or '127.0.0.1'}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}",
        REDIS_URL=redis_url,
        CONNECT_OUTBOUND_ALLOW_HTTP="true",
        CONNECT_OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
        CONNECT_WEBHOOK_STALE_CLAIM_SECONDS="3",
        CELERY_VISIBILITY_TIMEOUT="2",
    )
    workers: list[subprocess.Popen] = []

    def start_worker(name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - the process owns it until teardown
        process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "connect",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-n",
                f"{name}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(process)
        return process

    try:
        endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url)
        # The rows the outbox writes, without its on-commit enqueue: the workers below do the sending.
        event = WebhookEvent.objects.create(organization=acme, type="webhook.test", data={"n": 1})
        delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())

        first = start_worker("first")
        app.conf.task_always_eager = False
        try:
            app.send_task("integrations.deliver_webhook", args=[delivery.pk])
        finally:
            app.conf.task_always_eager = True
        wait_for(lambda: len(receiver.requests) == 1, 30, "the first worker to reach the receiver")
        first.send_signal(signal.SIGKILL)  # killed in the middle of the request
        first.wait(10)
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.DELIVERING  # claimed, never finished

        start_worker("second")
        time.sleep(3.5)  # the claim goes stale; beat's sweeper would now pick it up
        app.conf.task_always_eager = False
        try:
            app.send_task("integrations.deliver_due_webhooks")
        finally:
            app.conf.task_always_eager = True
        wait_for(
            lambda: (
                WebhookDelivery.objects.filter(endpoint=endpoint).get(pk=delivery.pk).status
                == WebhookDelivery.Status.SUCCEEDED
            ),
            30,
            "the second worker to deliver",
        )
        time.sleep(3)  # the killed worker's message also came back (late ack); it must not send a third time
        assert len(receiver.requests) == 2
        ids = [request["headers"]["webhook-id"] for request in receiver.requests]
        assert ids == [event.public_id, event.public_id]
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        receiver.close()
        for name in ("first", "second"):
            path = tmp_path / f"{name}.log"
            if path.exists():
                print(f"--- {name} worker ---\n{path.read_text()[-3000:]}")
