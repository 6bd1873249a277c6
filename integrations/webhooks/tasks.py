"""Webhook delivery on Celery workers.

The task names are the app's (``integrations.*``), not this module's: the beat schedule (settings) and messages
already queued name them, so they must not change when the module moves. connect/celery.py discovers this module.
"""

from celery import shared_task
from django.utils import timezone

from . import services as webhooks


@shared_task(name="integrations.deliver_webhook", acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(delivery_id: int) -> str | None:
    delivery = webhooks.attempt(delivery_id)
    return delivery.status if delivery else None


@shared_task(name="integrations.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Retries whose time has come, and deliveries whose worker died mid-request (stale claims)."""
    due = webhooks.due_deliveries(timezone.now())
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
