"""Meeting housekeeping (Celery beat)."""

from celery import shared_task

from . import services


@shared_task(name="meetings.end_empty")
def end_empty() -> int:
    """End mesh meetings that have stood empty past the timeout; returns how many."""
    return services.end_empty_meetings()
