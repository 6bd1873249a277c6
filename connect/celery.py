"""The Celery application. Tasks run eagerly in embedded mode and on Redis when ``REDIS_URL`` is set."""

import os

from celery import Celery

from connect.request_id import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")

app = Celery("connect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery looks for ``<installed app>.tasks``; the webhook tasks live in a package of the integrations app.
app.autodiscover_tasks(["integrations.webhooks"])
# A task logs under the request id of the request (or task) that enqueued it; a worker logs as LOGGING says.
connect_celery_signals()
