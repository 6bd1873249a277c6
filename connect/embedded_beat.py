"""Celery beat for embedded mode (``make run``): without a broker, tasks run inline in the web process, and nothing
else would run the periodic ones (``CELERY_BEAT_SCHEDULE``: expiring codes, ending abandoned sessions, retrying
webhooks and pushes, flushing API-call counters, purges). This thread runs each on its interval, one at a time.

With a broker (Redis), run ``celery -A connect beat`` instead, as docker-compose.yml does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)


def _seconds(schedule: Any) -> float | None:
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    return None  # crontab and other schedules: not run here


def run_task(name: str) -> None:
    """Run one registered Celery task inline, then hand back the thread's database connection."""
    from django.db import close_old_connections

    from connect.celery import app

    app.loader.import_default_modules()
    try:
        app.tasks[name].apply(throw=True)
    finally:
        close_old_connections()


class EmbeddedBeat(threading.Thread):
    def __init__(
        self,
        schedule: Mapping[str, Mapping[str, Any]],
        *,
        run: Callable[[str], None] = run_task,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        self.run_task, self.clock = run, clock
        self.entries: dict[str, tuple[str, float]] = {}
        for entry_name, entry in schedule.items():
            seconds = _seconds(entry.get("schedule"))
            if seconds is None or seconds <= 0:
                log.warning("embedded beat: %s has a schedule it cannot run; skipped", entry_name)
                continue
            self.entries[entry_name] = (entry["task"], seconds)
        self.stopped = threading.Event()
        self.runs: dict[str, int] = dict.fromkeys(self.entries, 0)

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        start = self.clock()
        due = {name: start + seconds for name, (_task, seconds) in self.entries.items()}
        while due and not self.stopped.is_set():
            name = min(due, key=due.get)
            wait = due[name] - self.clock()
            if wait > 0 and self.stopped.wait(wait):
                return
            task, seconds = self.entries[name]
            try:
                self.run_task(task)
            except Exception:  # noqa: BLE001  one failing task must not stop the others; it runs again next time
                log.exception("embedded beat: %s failed", task)
            self.runs[name] += 1
            due[name] = max(due[name] + seconds, self.clock())


def start_embedded_beat() -> EmbeddedBeat | None:
    """Start the beat thread when tasks run inline (no broker); ``None`` otherwise."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE)
    beat.start()
    log.info("embedded beat: %d periodic tasks run in this process", len(beat.entries))
    return beat
