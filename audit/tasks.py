"""Audit housekeeping (Celery beat)."""

from celery import shared_task

from .retention import retention_purge_all


@shared_task(name="audit.retention_purge")
def retention_purge() -> int:
    """Purge what organizations keep for a limited time (session logs, chat, audit entries); returns the rows."""
    return retention_purge_all()
