"""Periodic session housekeeping (Celery beat)."""

from celery import shared_task

from . import services


@shared_task(name="sessions.expire_unused_codes")
def expire_unused_codes() -> int:
    """Expire waiting sessions whose share code was not used in time; returns how many."""
    return services.sessions_expire_unused()
