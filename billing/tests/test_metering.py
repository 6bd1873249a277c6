"""Metering: records counted once, sessions metered when they end, API minutes flushed, daily rollups exact."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from billing import metering, tasks
from billing.models import DailyUsage, Metric, UsageRecord
from orgs.tenancy import org_context_for_user
from sessions import services as session_services
from sessions.services import Actor

pytestmark = pytest.mark.django_db

NOV = date(2026, 11, 1)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def daily(org) -> dict[tuple[date, str], int]:
    return {(d.date, d.metric): d.quantity for d in DailyUsage.objects.for_org(org)}


def test_a_replayed_record_is_counted_once(acme):
    first = metering.record(
        organization=acme, metric=Metric.SESSIONS, quantity=1, source_key="session:ses_1", occurred_at=at(NOV)
    )
    again = metering.record(
        organization=acme, metric=Metric.SESSIONS, quantity=1, source_key="session:ses_1", occurred_at=at(NOV)
    )
    assert (first, again) == (True, False)
    assert metering.usage_rollup_day(organization=acme, day=NOV) == {"sessions": 1}


def test_the_same_source_in_another_organization_is_its_own(acme, globex):
    for org in (acme, globex):
        metering.record(
            organization=org, metric=Metric.API_CALLS, quantity=7, source_key="api:x:202611011200", occurred_at=at(NOV)
        )
    assert metering.usage_rollup_day(organization=acme, day=NOV) == {"api_calls": 7}
    assert metering.usage_rollup_day(organization=globex, day=NOV) == {"api_calls": 7}


def test_an_unknown_metric_is_refused(acme):
    with pytest.raises(ValueError):
        metering.record(organization=acme, metric="coffee", quantity=1, source_key="k")


def _live_session(acme, bob):
    ctx = org_context_for_user(bob, "acme")
    session = session_services.session_start(org=ctx, actor=Actor(kind="agent", user=bob))
    session, _token = session_services.session_join(code=session.code, actor=Actor(kind="customer"), name="Carl")
    return session_services.session_grant_consent(session=session, actor=Actor(kind="customer"))


def test_a_session_is_metered_when_it_ends_with_its_started_minutes(acme, bob):
    session = _live_session(acme, bob)
    session.started_at = timezone.now() - timedelta(minutes=12, seconds=5)
    session.save(update_fields=["started_at"])
    assert not UsageRecord.objects.for_org(acme).exists()  # nothing while it runs
    session_services.session_end(session=session, actor=Actor(kind="agent", user=bob))
    session_services.session_end(session=session, actor=Actor(kind="agent", user=bob))  # ending again: nothing
    rows = {r.metric: r for r in UsageRecord.objects.for_org(acme)}
    assert rows["sessions"].quantity == 1
    assert rows["session_minutes"].quantity == 13  # 12 min 5 s is 13 started minutes
    assert rows["session_minutes"].agent_id == bob.public_id
    assert rows["session_minutes"].source_key == f"session:{session.public_id}"


def test_a_session_that_never_went_live_is_not_metered(acme, bob):
    ctx = org_context_for_user(bob, "acme")
    session = session_services.session_start(org=ctx, actor=Actor(kind="agent", user=bob))
    session_services.session_end(session=session, actor=Actor(kind="agent", user=bob))
    assert not UsageRecord.objects.for_org(acme).exists()


def test_api_calls_are_counted_per_minute_and_flushed_once(acme, globex):
    minute = at(NOV, 9, 30)
    for second in range(5):
        assert metering.api_call_admit(acme, limit=None, now=minute + timedelta(seconds=second)) is None
    metering.api_call_admit(globex, limit=None, now=minute)
    metering.api_call_admit(acme, limit=None, now=minute + timedelta(minutes=1))  # the next minute

    assert metering.api_calls_flush(now=minute + timedelta(seconds=50)) == 0  # the minute has not ended
    assert metering.api_calls_flush(now=minute + timedelta(minutes=1, seconds=10)) == 2
    assert metering.api_calls_flush(now=minute + timedelta(minutes=1, seconds=40)) == 0  # again: nothing new
    # A flush that lost its mark (a cache restart) looks back and finds the minutes already counted.
    from django.core.cache import cache

    cache.delete(metering._FLUSHED_MARK)
    assert metering.api_calls_flush(now=minute + timedelta(minutes=2, seconds=10)) == 1  # only the next minute
    acme_rows = UsageRecord.objects.for_org(acme).order_by("occurred_at")
    assert [(r.source_key, r.quantity) for r in acme_rows] == [
        (f"api:{acme.public_id}:202611010930", 5),
        (f"api:{acme.public_id}:202611010931", 1),
    ]
    assert [r.quantity for r in UsageRecord.objects.for_org(globex)] == [1]


def test_past_the_limit_a_call_is_refused_until_the_minute_ends_and_not_counted(acme):
    minute = at(NOV, 10, 0)
    assert [metering.api_call_admit(acme, limit=3, now=minute) for _ in range(3)] == [None, None, None]
    assert metering.api_call_admit(acme, limit=3, now=minute + timedelta(seconds=45)) == 15
    assert metering.api_calls_this_minute(acme, now=minute) == 3
    assert metering.api_call_admit(acme, limit=3, now=minute + timedelta(minutes=1)) is None


def test_rolling_up_twice_gives_the_same_figures(acme):
    for i in range(3):
        metering.record(
            organization=acme, metric=Metric.SESSION_MINUTES, quantity=10, source_key=f"s{i}", occurred_at=at(NOV, i)
        )
    first = metering.usage_rollup_day(organization=acme, day=NOV)
    again = metering.usage_rollup_day(organization=acme, day=NOV)
    assert first == again == {"session_minutes": 30}
    assert daily(acme) == {(NOV, "session_minutes"): 30}
    # A late record of that day: the next rollup recomputes the whole day.
    metering.record(
        organization=acme, metric=Metric.SESSION_MINUTES, quantity=5, source_key="late", occurred_at=at(NOV)
    )
    metering.usage_rollup_day(organization=acme, day=NOV)
    assert daily(acme) == {(NOV, "session_minutes"): 35}


def _generate_month(org, rng: random.Random) -> dict[tuple[date, str], int]:
    """A month of sessions, meeting minutes and API minutes; returns the figures expected per day."""
    expected: dict[tuple[date, str], int] = {}
    for day_index in range(30):
        day = NOV + timedelta(days=day_index)
        for n in range(rng.randint(0, 6)):
            minutes = rng.randint(1, 90)
            moment = at(day, rng.randint(0, 23), rng.randint(0, 59))
            key = f"session:ses_{day_index}_{n}"
            metering.record(organization=org, metric="sessions", quantity=1, source_key=key, occurred_at=moment)
            metering.record(
                organization=org, metric="session_minutes", quantity=minutes, source_key=key, occurred_at=moment
            )
            expected[(day, "sessions")] = expected.get((day, "sessions"), 0) + 1
            expected[(day, "session_minutes")] = expected.get((day, "session_minutes"), 0) + minutes
        for n in range(rng.randint(0, 3)):
            minutes = rng.randint(1, 200)
            metering.record(
                organization=org,
                metric="meeting_minutes",
                quantity=minutes,
                source_key=f"meeting:m_{day_index}_{n}",
                occurred_at=at(day, 15),
            )
            expected[(day, "meeting_minutes")] = expected.get((day, "meeting_minutes"), 0) + minutes
        for n in range(rng.randint(0, 4)):
            calls = rng.randint(1, 500)
            metering.record(
                organization=org,
                metric="api_calls",
                quantity=calls,
                source_key=f"api:{org.public_id}:{day:%Y%m%d}{n:04d}",
                occurred_at=at(day, 0, n),
            )
            expected[(day, "api_calls")] = expected.get((day, "api_calls"), 0) + calls
    # The first midnight of December belongs to December 1, not November 30.
    metering.record(
        organization=org, metric="sessions", quantity=1, source_key="edge", occurred_at=at(date(2026, 12, 1), 0)
    )
    expected[(date(2026, 12, 1), "sessions")] = 1
    return expected


def test_a_generated_month_rolls_up_exactly_and_again_or_after_a_crash_changes_nothing(acme, globex):
    expected = _generate_month(acme, random.Random(13))
    _generate_month(globex, random.Random(7))  # another organization's month stays out of Acme's figures

    real_rollup = metering.usage_rollup_day
    done: list[date] = []

    def crash_half_way(*, organization, day):
        if len(done) == 15:
            raise RuntimeError("worker lost")
        done.append(day)
        return real_rollup(organization=organization, day=day)

    with mock.patch.object(metering, "usage_rollup_day", crash_half_way), pytest.raises(RuntimeError):
        tasks.rollup_usage()
    assert tasks.rollup_usage() > 0
    assert daily(acme) == expected
    tasks.rollup_usage()
    assert daily(acme) == expected
    month = metering.usage_totals(acme, NOV, date(2026, 11, 30), now=at(date(2026, 12, 20)))
    assert month["sessions"] == sum(q for (d, m), q in expected.items() if m == "sessions" and d.month == 11)
    assert month["api_calls"] == sum(q for (d, m), q in expected.items() if m == "api_calls")


def test_recent_days_are_read_live_before_the_rollup_runs(acme):
    now = timezone.now()
    metering.record(organization=acme, metric="sessions", quantity=1, source_key="today", occurred_at=now)
    today = metering.today_utc(now)
    assert metering.usage_days(acme, today, today, now=now)["sessions"] == [1]
    assert not DailyUsage.objects.for_org(acme).exists()


def test_storage_in_use_is_what_was_added_minus_what_was_removed(acme):
    old = at(date(2026, 10, 3))
    metering.record(
        organization=acme, metric="recording_bytes", quantity=5_000, source_key="recording:r1", occurred_at=old
    )
    metering.record(
        organization=acme, metric="recording_bytes", quantity=2_000, source_key="recording:r2", occurred_at=old
    )
    metering.usage_rollup_day(organization=acme, day=old.date())
    metering.record(
        organization=acme,
        metric="recording_bytes",
        quantity=-2_000,
        source_key="recording:r2:deleted",
        occurred_at=timezone.now(),
    )
    assert metering.storage_in_use(acme) == 5_000


def test_usage_per_agent_keeps_the_recorded_name(acme, bob, alice):
    now = timezone.now()
    for key, who, minutes in (("a", bob, 30), ("b", bob, 10), ("c", alice, 5)):
        fields = {"agent_id": who.public_id, "agent_name": who.get_full_name(), "occurred_at": now, "source_key": key}
        metering.record(organization=acme, metric="sessions", quantity=1, **fields)
        metering.record(organization=acme, metric="session_minutes", quantity=minutes, **fields)
    today = metering.today_utc(now)
    rows = metering.usage_by_agent(acme, today, today)
    assert [(r["agent_id"], r["sessions"], r["minutes"]) for r in rows] == [
        (bob.public_id, 2, 40),
        (alice.public_id, 1, 5),
    ]


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field"),
    [
        ("2026-13-01", None, "from"),
        ("yesterday", None, "from"),
        ("20261101", None, "from"),
        (None, "2026-02-30", "to"),
        ("2026-11-10", "2026-11-01", "from"),
        ("2025-01-01", "2026-11-01", "to"),
        (None, "0001-01-05", "to"),
        ("9999-12-01", "9999-12-31", "from"),
    ],
)
def test_bad_ranges_name_the_field(raw_from, raw_to, field):
    from connect.errors import ApplicationError

    with pytest.raises(ApplicationError) as refused:
        metering.usage_range(raw_from, raw_to)
    assert refused.value.status_code == 400 and refused.value.details["field"] == field


def test_a_range_of_366_days_is_accepted():
    assert metering.usage_range("2025-11-02", "2026-11-02") == (date(2025, 11, 2), date(2026, 11, 2))
