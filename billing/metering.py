"""Usage metering: what each organization used, exact and counted once.

Three layers:

- **Raw records** (:class:`UsageRecord`), written by :func:`record`. Each names its source (``session:<public id>``,
  ``api:<organization public id>:<YYYYmmddHHMM>``), unique per organization and metric: a retried task or a replayed
  event records the same source again and is counted once.
- **API calls** are too many for a row each: every call of an API key or OAuth app is one atomic increment of a
  per-organization, per-minute counter in the cache (Redis in production), which is also what the plan's
  ``api_requests_per_minute`` is checked against (:func:`api_call_admit`, from ``billing.throttles``). Celery beat
  flushes the minutes that have ended into raw records (:func:`api_calls_flush`).
- **Daily totals** (:class:`DailyUsage`), recomputed from the raw records one whole UTC day at a time, in one
  transaction (:func:`usage_rollup_day`): running it twice, late, or again after a crash half-way gives the same
  figures. The pages read the daily totals, and the raw records for the two most recent days, which a rollup may not
  have seen yet (:func:`usage_days`).

Support sessions are metered from the ``session.ended`` event, inside the transaction that ends the session
(:func:`record_session_ended`, registered in ``billing.apps``): the minutes are recorded if and only if the session
ended. Meetings and recordings call :func:`record` the same way when they exist (``meeting:<id>:<participant>``,
``recording:<id>``, and a negative ``recording:<id>:deleted`` when one is removed).

Days are UTC days, the same for every viewer, as on an invoice.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from connect import events
from connect.errors import ApplicationError
from orgs.models import Organization
from orgs.tenancy import cross_organization

from .models import DailyUsage, Metric, UsageRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricInfo:
    code: str
    label: Any
    unit: str  # "count" | "minutes" | "bytes"
    # The plan limit it is measured against, and how: "month" (this calendar month's total), "stored" (everything
    # recorded so far, e.g. storage in use) or "minute" (the busiest minute against a per-minute rate).
    limit_key: str | None = None
    limit_kind: str | None = None


METRICS: dict[str, MetricInfo] = {
    m.code: m
    for m in (
        MetricInfo(Metric.SESSIONS, _("Support sessions"), "count"),
        MetricInfo(Metric.SESSION_MINUTES, _("Support-session minutes"), "minutes"),
        MetricInfo(Metric.MEETING_MINUTES, _("Meeting minutes"), "minutes", "meeting_minutes_month", "month"),
        MetricInfo(Metric.RECORDING_BYTES, _("Recording storage added"), "bytes", "recording_storage_bytes", "stored"),
        MetricInfo(Metric.API_CALLS, _("API calls"), "count", "api_requests_per_minute", "minute"),
    )
}

# The most recent days are read from the raw records: the rollup may not have seen all of them yet (it runs hourly,
# and API minutes arrive a minute or two late).
LIVE_DAYS = 2
# Rollups recompute the days touched by records written this recently (late records, retries, a missed run).
ROLLUP_LOOKBACK = timedelta(hours=48)


def record(
    *,
    organization: Organization,
    metric: str,
    quantity: int,
    source_key: str,
    occurred_at: datetime | None = None,
    agent_id: str = "",
    agent_name: str = "",
) -> bool:
    """Record that ``organization`` used ``quantity`` of ``metric``; ``source_key`` names what was measured.

    True when counted now; False when that source was already counted (nothing changes)."""
    if metric not in METRICS:
        raise ValueError(f"unknown usage metric {metric!r}")
    if not source_key or len(source_key) > 200:
        raise ValueError("a usage record needs a source_key of 1 to 200 characters")
    with transaction.atomic():  # a savepoint: a duplicate's IntegrityError must not abort the caller's transaction
        _record, created = UsageRecord.objects.for_org(organization).get_or_create(
            organization=organization,
            metric=metric,
            source_key=source_key,
            defaults={
                "quantity": int(quantity),
                "occurred_at": occurred_at or timezone.now(),
                "agent_id": agent_id[:40],
                "agent_name": agent_name[:150],
            },
        )
    return created


# --- Support sessions -------------------------------------------------------------------------------------------


def record_session_ended(event: events.Event) -> None:
    """A recorder of ``connect.events``: runs inside the transaction that ends the session. A session counts once
    it was live (the customer consented); its minutes are started ones (61 seconds are 2 minutes)."""
    if not isinstance(event, events.SessionEnded) or event.started_at is None:
        return
    ended = event.ended_at or timezone.now()
    seconds = event.duration_seconds
    if seconds is None:
        seconds = max(0, int((ended - event.started_at).total_seconds()))
    who = {"agent_id": event.agent_id or "", "agent_name": event.agent_name or ""}
    source = f"session:{event.id}"
    record(
        organization=event.organization, metric=Metric.SESSIONS, quantity=1, source_key=source, occurred_at=ended, **who
    )
    minutes = math.ceil(seconds / 60)
    if minutes:
        record(
            organization=event.organization,
            metric=Metric.SESSION_MINUTES,
            quantity=minutes,
            source_key=source,
            occurred_at=ended,
            **who,
        )


# --- API calls: a counter per organization and minute -----------------------------------------------------------

COUNTER_TTL = 3 * 3600  # seconds a minute's counter is kept: the flush reads it well before
FLUSH_LOOKBACK_MINUTES = 120  # without a mark of the last flushed minute, how far back a flush looks
FLUSH_GRACE = timedelta(seconds=5)  # a minute is flushed this long after it ended (calls counted at its very end)
_FLUSHED_MARK = "usage:api:flushed-until"


def minute_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def _minute_start(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _counter_key(organization_pk: int, stamp: str) -> str:
    return f"usage:api:{organization_pk}:{stamp}"


def _index_key(stamp: str, slot: int | str) -> str:
    return f"usage:api:minute:{stamp}:{slot}"


def _increment(key: str) -> int:
    """One atomic increment (Redis INCR); the count including this one."""
    for _try in range(3):
        if cache.add(key, 1, COUNTER_TTL):
            return 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            continue
        if count == 1:  # the backend re-created an expired key without an expiry
            cache.touch(key, COUNTER_TTL)
        return count
    return cache.incr(key)  # pragma: no cover - three expiries in a row


def _note_active(organization_pk: int, stamp: str) -> None:
    """Add the organization to the minute's list of organizations that called the API (once per minute)."""
    slot = _increment(_index_key(stamp, "n"))
    cache.set(_index_key(stamp, slot), organization_pk, COUNTER_TTL)


def _clock() -> datetime:
    """The time API calls are counted at (tests hold it inside one minute)."""
    return timezone.now()


def api_call_admit(organization: Organization, *, limit: int | None, now: datetime | None = None) -> int | None:
    """Count one API call of ``organization`` in the current minute. ``None``: go ahead. Otherwise the call is past
    ``limit`` calls this minute, is not counted, and the answer is the seconds until the minute ends."""
    now = now or _clock()
    stamp = minute_stamp(now)
    key = _counter_key(organization.pk, stamp)
    count = _increment(key)
    if count == 1:
        _note_active(organization.pk, stamp)
    if limit is not None and count > limit:
        try:
            cache.decr(key)  # a refused call is not a call: it is neither metered nor counted against the next
        except ValueError:  # pragma: no cover - the counter expired meanwhile
            pass
        next_minute = _minute_start(stamp) + timedelta(minutes=1)
        return max(1, math.ceil((next_minute - now).total_seconds()))
    return None


def api_calls_this_minute(organization: Organization, now: datetime | None = None) -> int:
    return int(cache.get(_counter_key(organization.pk, minute_stamp(now or _clock()))) or 0)


def api_calls_flush(now: datetime | None = None) -> int:
    """Turn the counters of the minutes that have ended into usage records (``api:<org public id>:<minute>``);
    flushing a minute again changes nothing. Returns how many records were written."""
    now = now or timezone.now()
    last = (now - FLUSH_GRACE).replace(second=0, microsecond=0) - timedelta(minutes=1)
    earliest = last - timedelta(minutes=FLUSH_LOOKBACK_MINUTES)
    mark = cache.get(_FLUSHED_MARK)
    start = earliest
    if mark:
        start = max(earliest, _minute_start(mark) + timedelta(minutes=1))
    written = 0
    minute = start
    while minute <= last:
        written += _flush_minute(minute_stamp(minute))
        minute += timedelta(minutes=1)
    cache.set(_FLUSHED_MARK, minute_stamp(last), None)
    return written


def _flush_minute(stamp: str) -> int:
    slots = int(cache.get(_index_key(stamp, "n")) or 0)
    if not slots:
        return 0
    org_pks = set(cache.get_many([_index_key(stamp, i) for i in range(1, slots + 1)]).values())
    counts = cache.get_many([_counter_key(pk, stamp) for pk in org_pks])
    written = 0
    for organization in Organization.objects.filter(pk__in=org_pks):
        count = int(counts.get(_counter_key(organization.pk, stamp)) or 0)
        if count > 0 and record(
            organization=organization,
            metric=Metric.API_CALLS,
            quantity=count,
            source_key=f"api:{organization.public_id}:{stamp}",
            occurred_at=_minute_start(stamp),
        ):
            written += 1
    return written


# --- Daily rollup -----------------------------------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def usage_rollup_day(*, organization: Organization, day: date) -> dict[str, int]:
    """Recompute ``organization``'s totals for ``day`` from the raw records, the whole day in one transaction."""
    start, end = _day_bounds(day)
    with transaction.atomic():
        totals = {
            row["metric"]: int(row["total"])
            for row in UsageRecord.objects.for_org(organization)
            .filter(occurred_at__gte=start, occurred_at__lt=end)
            .values("metric")
            .annotate(total=Sum("quantity"))
        }
        DailyUsage.objects.for_org(organization).filter(date=day).exclude(metric__in=list(totals)).delete()
        if totals:
            DailyUsage.objects.bulk_create(
                [DailyUsage(organization=organization, date=day, metric=m, quantity=q) for m, q in totals.items()],
                update_conflicts=True,
                unique_fields=["organization", "date", "metric"],
                update_fields=["quantity", "computed_at"],
            )
    return totals


def usage_rollup_recent(now: datetime | None = None) -> int:
    """Roll up every (organization, day) that records written in the last two days touched: late records and
    missed runs are caught up. Returns how many days were recomputed."""
    now = now or timezone.now()
    with cross_organization("beat rollup: usage of every organization is rolled up"):
        touched = list(
            UsageRecord.objects.filter(created_at__gte=now - ROLLUP_LOOKBACK)
            .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
            .values_list("organization_id", "day")
            .distinct()
        )
    days_by_org: dict[int, set[date]] = defaultdict(set)
    for organization_id, day in touched:
        days_by_org[organization_id].add(day)
    count = 0
    for organization in Organization.objects.filter(pk__in=list(days_by_org)):
        for day in sorted(days_by_org[organization.pk]):
            usage_rollup_day(organization=organization, day=day)
            count += 1
    return count


# --- Reading ----------------------------------------------------------------------------------------------------


def today_utc(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def usage_days(
    organization: Organization, start: date, end: date, *, now: datetime | None = None
) -> dict[str, list[int]]:
    """Per metric, the totals of each day from ``start`` to ``end`` (both included), zeros where nothing was used."""
    days = (end - start).days + 1
    series = {code: [0] * days for code in METRICS}
    live_from = today_utc(now) - timedelta(days=LIVE_DAYS - 1)
    rolled = DailyUsage.objects.for_org(organization).filter(
        date__gte=start, date__lte=min(end, live_from - timedelta(days=1))
    )
    for day, metric, quantity in rolled.values_list("date", "metric", "quantity"):
        if metric in series:
            series[metric][(day - start).days] = quantity
    if end >= live_from:
        for day, metric, quantity in _raw_days(organization, max(start, live_from), end):
            if metric in series:
                series[metric][(day - start).days] = quantity
    return series


def _raw_days(organization: Organization, start: date, end: date) -> list[tuple[date, str, int]]:
    first, _unused = _day_bounds(start)
    _unused, last = _day_bounds(end)
    rows = (
        UsageRecord.objects.for_org(organization)
        .filter(occurred_at__gte=first, occurred_at__lt=last)
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "metric")
        .annotate(total=Sum("quantity"))
    )
    return [(row["day"], row["metric"], int(row["total"])) for row in rows]


def usage_totals(organization: Organization, start: date, end: date, *, now: datetime | None = None) -> dict[str, int]:
    return {code: sum(values) for code, values in usage_days(organization, start, end, now=now).items()}


def storage_in_use(organization: Organization, *, now: datetime | None = None) -> int:
    """Recording bytes recorded so far (added minus removed)."""
    live_from = today_utc(now) - timedelta(days=LIVE_DAYS - 1)
    rolled = (
        DailyUsage.objects.for_org(organization)
        .filter(metric=Metric.RECORDING_BYTES, date__lt=live_from)
        .aggregate(total=Sum("quantity"))["total"]
    )
    first, _unused = _day_bounds(live_from)
    live = (
        UsageRecord.objects.for_org(organization)
        .filter(metric=Metric.RECORDING_BYTES, occurred_at__gte=first)
        .aggregate(total=Sum("quantity"))["total"]
    )
    return max(0, int(rolled or 0) + int(live or 0))


def busiest_api_minute(organization: Organization, since: date) -> int:
    """The most API calls in one minute since ``since`` (flushed minutes)."""
    first, _unused = _day_bounds(since)
    found = (
        UsageRecord.objects.for_org(organization)
        .filter(metric=Metric.API_CALLS, occurred_at__gte=first)
        .aggregate(peak=Max("quantity"))["peak"]
    )
    return int(found or 0)


def usage_by_agent(organization: Organization, start: date, end: date) -> list[dict[str, Any]]:
    """Sessions and session minutes per agent from ``start`` to ``end``, most minutes first (the agent's name as it
    was recorded: the figures outlive the person)."""
    first, _unused = _day_bounds(start)
    _unused, last = _day_bounds(end)
    rows = (
        UsageRecord.objects.for_org(organization)
        .filter(
            occurred_at__gte=first,
            occurred_at__lt=last,
            metric__in=[Metric.SESSIONS, Metric.SESSION_MINUTES],
        )
        .values("agent_id")
        .annotate(
            name=Max("agent_name"),
            sessions=Sum("quantity", filter=Q(metric=Metric.SESSIONS)),
            minutes=Sum("quantity", filter=Q(metric=Metric.SESSION_MINUTES)),
        )
    )
    found = [
        {
            "agent_id": row["agent_id"] or None,
            "agent_name": row["name"] or "",
            "sessions": int(row["sessions"] or 0),
            "minutes": int(row["minutes"] or 0),
        }
        for row in rows
    ]
    return sorted(found, key=lambda row: (-row["minutes"], -row["sessions"], row["agent_name"]))


# --- Report ranges and rows (the Usage page, its CSV and GET /api/v1/usage) -------------------------------------

MAX_RANGE_DAYS = 366
EARLIEST_DAY = date(2000, 1, 1)  # nothing was metered before; far-off dates would overflow the day arithmetic
DEFAULT_RANGE_DAYS = 30


def usage_range(raw_from: str | None, raw_to: str | None, *, now: datetime | None = None) -> tuple[date, date]:
    """The report's days from the ``from`` and ``to`` parameters (dates, both included): by default the last 30
    days to today (UTC). A malformed date, ``from`` after ``to``, or more than 366 days is a 400 naming the field."""

    def parsed(name: str, raw: str | None) -> date | None:
        if raw is None or raw == "":
            return None
        try:  # exactly YYYY-MM-DD: fromisoformat would also take 20260131 or a week date
            if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
                return date.fromisoformat(raw)
        except ValueError:
            pass
        raise ApplicationError(
            _("'%(n)s' must be a date like 2026-01-31.") % {"n": name}, code="validation_error", details={"field": name}
        )

    today = today_utc(now)
    end = parsed("to", raw_to)
    start = parsed("from", raw_from)
    for name, value in (("from", start), ("to", end)):
        if value is not None and not (EARLIEST_DAY <= value <= today + timedelta(days=MAX_RANGE_DAYS)):
            raise ApplicationError(
                _("'%(n)s' must be a date from %(first)s to a year from now.")
                % {"n": name, "first": EARLIEST_DAY.isoformat()},
                code="validation_error",
                details={"field": name},
            )
    end = end or today
    start = start or max(EARLIEST_DAY, end - timedelta(days=DEFAULT_RANGE_DAYS - 1))
    if start > end:
        raise ApplicationError(_("'from' must not be after 'to'."), code="validation_error", details={"field": "from"})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ApplicationError(
            _("Ask for at most %(n)s days at a time.") % {"n": MAX_RANGE_DAYS},
            code="validation_error",
            details={"field": "to", "max_days": MAX_RANGE_DAYS},
        )
    return start, end


def usage_rows(organization: Organization, start: date, end: date) -> list[dict[str, Any]]:
    """One row per day: ``{"date": date, "<metric>": quantity, ...}``."""
    series = usage_days(organization, start, end)
    return [
        {"date": start + timedelta(days=i), **{code: values[i] for code, values in series.items()}}
        for i in range((end - start).days + 1)
    ]
