"""Counting attempts in a time window (wrong share codes, wrong two-factor codes), shared by every process
through the cache (Redis in production).

An attempt is counted *before* it is evaluated, with one atomic increment per key (``INCR`` on Redis), and refused
when the count it reserved is over the limit. Checking first and counting after the evaluation let concurrent
guesses all read "under the limit" before any of them was counted (60 concurrent wrong share codes got 20
evaluations against a limit of 10); a reservation cannot be shared, so at most ``limit`` attempts are evaluated in
a window however many arrive at once. An attempt that turns out not to count (the right code, or one refused here)
gives its reservation back with :func:`release`.

A window starts with its first attempt and lasts ``window_seconds``; attempts inside it do not extend it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

from connect.errors import ApplicationError, note_retry_after

T = TypeVar("T")


def _deadline_key(key: str) -> str:
    return f"{key}:until"


def _reserve(key: str, window_seconds: int) -> int:
    """Count one attempt under ``key``; the count including it."""
    for _try in range(3):
        if cache.add(key, 1, window_seconds):  # the first attempt of a window
            cache.set(_deadline_key(key), time.time() + window_seconds, window_seconds)
            return 1
        try:
            count = cache.incr(key)
        except ValueError:  # the window ended between add and incr: start a new one
            continue
        if count == 1:
            # The key expired between the backend's existence check and its INCR, which then created it without an
            # expiry: give it one, or this count would never end.
            cache.touch(key, window_seconds)
        return count
    return cache.incr(key)  # pragma: no cover - three windows ending in a row


def _seconds_left(key: str, window_seconds: int) -> int:
    deadline = cache.get(_deadline_key(key))
    if deadline is None:
        return window_seconds
    return max(1, min(window_seconds, int(deadline - time.time() + 0.999)))


def attempt_refused(keys: list[str], *, limit: int, window_seconds: int) -> int | None:
    """Reserve one attempt under each key. ``None``: go ahead (the attempt is counted; :func:`release` it if it turns
    out not to count). Otherwise the attempt is refused, nothing stays counted, and the answer is the seconds until
    the fullest window ends (also noted for the response's ``Retry-After``)."""
    counts = {key: _reserve(key, window_seconds) for key in keys}
    over = [key for key, count in counts.items() if count > limit]
    if not over:
        return None
    release(keys)
    wait = max(_seconds_left(key, window_seconds) for key in over)
    note_retry_after(wait)
    return wait


def release(keys: list[str]) -> None:
    """Give back an attempt reserved by :func:`attempt_refused`."""
    for key in keys:
        try:
            count = cache.decr(key)
        except ValueError:  # the window already ended
            continue
        if count < 0:  # the window ended between the backend's check and its DECR, which re-created the key
            cache.delete(key)


def clear(keys: list[str]) -> None:
    """Forget every attempt counted under ``keys`` (someone proved themselves)."""
    cache.delete_many(keys + [_deadline_key(key) for key in keys])


def guarded(
    keys: list[str],
    attempt: Callable[[], T],
    *,
    limit: int,
    message: str,
    counts: Callable[[ApplicationError], bool],
    window_seconds: int = 60,
) -> T:
    """Run ``attempt()`` unless ``keys`` had ``limit`` counted attempts in the window: then ``429 rate_limited`` with
    ``message`` and the seconds to wait. The attempt is counted before it runs (concurrent guesses cannot all pass
    the check), and given back unless it failed with an error that ``counts`` (a wrong code, token or ticket)."""
    wait = attempt_refused(keys, limit=limit, window_seconds=window_seconds)
    if wait is not None:
        raise ApplicationError(message, code="rate_limited", status_code=429, details={"retry_after_seconds": wait})
    wrong = False
    try:
        return attempt()
    except ApplicationError as exc:
        wrong = counts(exc)
        raise
    finally:
        if not wrong:
            release(keys)
