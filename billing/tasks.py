"""Metering on Celery beat: API-call counters flushed every minute, usage rolled up into daily totals every hour.

Both are idempotent: a task that runs twice, late, or again after a crash writes the same figures."""

from celery import shared_task

from . import metering


@shared_task(name="billing.flush_api_calls")
def flush_api_calls() -> int:
    """Write the API-call counters of the minutes that ended into usage records; returns how many were written."""
    return metering.api_calls_flush()


@shared_task(name="billing.rollup_usage")
def rollup_usage() -> int:
    """Recompute the daily totals of the days recent records touched; returns how many days were recomputed."""
    return metering.usage_rollup_recent()
