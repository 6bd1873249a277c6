"""The Celery application. Tasks run eagerly in embedded mode and on Redis when ``REDIS_URL`` is set."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")

app = Celery("connect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery looks for ``<installed app>.tasks``; the webhook tasks live in a package of the integrations app.
app.autodiscover_tasks(["integrations.webhooks"])
