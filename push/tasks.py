"""Push delivery on Celery workers: one task per message, and the beat's sweep of retries and dead workers' claims."""

from celery import shared_task

from . import services


@shared_task(name="push.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver(message_id: int) -> str | None:
    message = services.deliver(message_id)
    return message.status if message else None


@shared_task(name="push.deliver_due")
def deliver_due() -> int:
    due = services.sweep()
    for message_id in due:
        deliver.delay(message_id)
    return len(due)
