"""Query parameters every list shares: a bad one is a 400 naming it, in the one error shape."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from connect.errors import ApplicationError


def moment_param(name: str, raw: str, *, dates: bool = False, end_of_day: bool = False, zone: tzinfo = UTC) -> datetime:
    """An ISO 8601 date-time in UTC (one without an offset is read in ``zone``, UTC unless told); with ``dates``, a
    bare date too (its start in ``zone``, or its end with ``end_of_day``). Anything else, including what looks like a
    date-time but is none (an offset of +99:00, a time outside the years 1 to 9999 once in UTC), is a 400 naming the
    parameter."""
    value = None
    try:
        value = parse_datetime(raw)
        if value is None and dates and (day := parse_date(raw)) is not None:
            value = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
        if value is not None:
            value = (value if timezone.is_aware(value) else value.replace(tzinfo=zone)).astimezone(UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        message = (
            _("'%(n)s' must be a date (2026-01-31) or an ISO 8601 date-time (2026-01-31T09:00:00Z).")
            if dates
            else _("'%(n)s' must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z.")
        )
        raise ApplicationError(message % {"n": name}, code="validation_error", details={"field": name})
    return value
