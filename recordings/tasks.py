"""Recording housekeeping (Celery beat)."""

from celery import shared_task

from . import services


@shared_task(name="recordings.purge_expired")
def purge_expired() -> int:
    """Delete the objects of recordings past their retention and mark them purged; returns how many."""
    return services.recordings_purge_expired()
