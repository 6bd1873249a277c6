"""The embedded beat (connect.embedded_beat): ``make run`` has no Celery beat, so its periodic tasks run in a thread of
the web process, each on its interval, and one that fails does not stop the others."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings

from connect.embedded_beat import EmbeddedBeat


def test_each_task_runs_on_its_interval_and_a_failure_stops_nothing():
    ran = []

    def run(task):
        ran.append(task)
        if task == "broken":
            raise RuntimeError("boom")

    beat = EmbeddedBeat(
        {
            "fast": {"task": "fast", "schedule": 0.05},
            "broken": {"task": "broken", "schedule": timedelta(seconds=0.05)},
            "slow": {"task": "slow", "schedule": 60.0},
            "cron": {"task": "cron", "schedule": crontab(minute=0)},
        },
        run=run,
    )
    assert set(beat.entries) == {"fast", "broken", "slow"}  # a crontab is not run here (said in the log)
    beat.start()
    time.sleep(0.4)
    beat.stop()
    beat.join(2)
    assert not beat.is_alive()
    assert ran.count("fast") >= 3 and ran.count("broken") >= 3 and "slow" not in ran


@pytest.mark.django_db
def test_every_periodic_task_of_the_product_can_run_embedded():
    """Every entry of the real schedule has an interval the thread can run (none would be skipped)."""
    beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE, run=lambda task: None)
    assert set(beat.entries) == set(settings.CELERY_BEAT_SCHEDULE)
    from connect.celery import app

    app.loader.import_default_modules()
    assert {task for task, _ in beat.entries.values()} <= set(app.tasks)
