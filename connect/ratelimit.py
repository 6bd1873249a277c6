"""Counting failures in a time window (wrong share codes, wrong two-factor codes), shared by every process
through the cache (Redis in production)."""

from __future__ import annotations

from django.core.cache import cache


def record_failure(keys: list[str], window_seconds: int) -> None:
    """Count one failure under each key; a key's count starts when its first failure is recorded."""
    for key in keys:
        cache.add(key, 0, window_seconds)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, window_seconds)


def limit_reached(keys: list[str], limit: int) -> bool:
    return any(cache.get(key, 0) >= limit for key in keys)


def clear(keys: list[str]) -> None:
    cache.delete_many(keys)
