"""Session history worth searching: the one search (pages, CSV, API and live fragments share it), the figures a
support lead watches, and the CSV export.

Every read starts from :func:`sessions.selectors.sessions_visible`: an agent who may only see their own sessions
finds only those, whatever the surface.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.export import spreadsheet_safe
from connect.api.params import moment_param
from connect.errors import ApplicationError
from orgs.tenancy import OrgContext

from .models import LIVE_STATUSES, EndReason, Status, SupportSession
from .selectors import sessions_visible

PAGE_SIZE = 50
MAX_QUERY_LENGTH = 200

# Outcomes a person filters on: how a session finished (an end reason), or that it is still live.
OUTCOMES: dict[str, Any] = {
    "live": gettext_lazy("Still live"),
    **{reason.value: reason.label for reason in EndReason},
}


@dataclass(frozen=True)
class HistoryFilters:
    q: str = ""
    statuses: tuple[str, ...] = ()
    outcome: str = ""
    agent: str = ""
    since: datetime | None = None
    until: datetime | None = None  # inclusive (a bare date: through its last microsecond)

    @property
    def active(self) -> bool:
        return bool(self.q or self.statuses or self.outcome or self.agent or self.since or self.until)


def _bad(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="validation_error", details={"field": field})


def parse_filters(params: Mapping[str, str], zone: tzinfo | None = None) -> HistoryFilters:
    """Filters from query parameters (``q``, ``status``, ``outcome``, ``agent``, ``since``, ``until``); a bad one
    raises an ApplicationError (400, ``validation_error``, naming the field). Dates are read in ``zone``."""
    zone = zone or timezone.get_current_timezone()
    q = (params.get("q") or "").strip()
    if len(q) > MAX_QUERY_LENGTH:
        raise _bad("q", _("A search is at most %(n)d characters.") % {"n": MAX_QUERY_LENGTH})
    statuses: tuple[str, ...] = ()
    if params.get("status"):
        statuses = tuple(s.strip() for s in params["status"].split(",") if s.strip())
        unknown = set(statuses) - set(Status.values)
        if unknown:
            raise _bad("status", _("Unknown status: %(s)s.") % {"s": ", ".join(sorted(unknown))})
    outcome = (params.get("outcome") or "").strip()
    if outcome and outcome not in OUTCOMES:
        raise _bad("outcome", _("Unknown outcome: %(s)s.") % {"s": outcome})
    agent = (params.get("agent") or "").strip()
    if len(agent) > 40:
        raise _bad("agent", _("No such agent."))
    since = moment_param("since", params["since"], dates=True, zone=zone) if params.get("since") else None
    until = (
        moment_param("until", params["until"], dates=True, end_of_day=True, zone=zone) if params.get("until") else None
    )
    if since and until and since >= until:
        raise _bad("until", _("'until' must be after 'since'."))
    return HistoryFilters(q=q, statuses=statuses, outcome=outcome, agent=agent, since=since, until=until)


def apply_filters(queryset: QuerySet[SupportSession], filters: HistoryFilters) -> QuerySet[SupportSession]:
    """Narrow ``queryset`` (already the sessions someone may view) by ``filters``."""
    if filters.q:
        words = Q()
        for word in filters.q.split()[:8]:
            digits = "".join(ch for ch in word if ch.isdigit())
            match = (
                Q(customer_name__icontains=word)
                | Q(customer_email__icontains=word)
                | Q(ticket_ref__icontains=word)
                | Q(agent_label__icontains=word)
                | Q(agent__name__icontains=word)
                | Q(agent__email__icontains=word)
                | Q(public_id=word)
            )
            if digits and len(digits) >= 3 and digits == word.replace(" ", "").replace("-", ""):
                match |= Q(code__contains=digits)
            words &= match
        queryset = queryset.filter(words)
    if filters.statuses:
        queryset = queryset.filter(status__in=filters.statuses)
    if filters.outcome == "live":
        queryset = queryset.filter(status__in=LIVE_STATUSES)
    elif filters.outcome:
        queryset = queryset.filter(end_reason=filters.outcome)
    if filters.agent:
        queryset = queryset.filter(agent__public_id=filters.agent)
    if filters.since:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(created_at__lte=filters.until)
    return queryset


def search(ctx: OrgContext, filters: HistoryFilters) -> QuerySet[SupportSession]:
    """The sessions ``ctx`` may view that match ``filters``, newest first."""
    queryset = sessions_visible(ctx).select_related("agent", "organization")
    return apply_filters(queryset, filters).order_by("-created_at", "-id")


# --- Figures ---------------------------------------------------------------------------------------------------


def _median_seconds(values: list[float]) -> int | None:
    return int(statistics.median(values)) if values else None


def figures(ctx: OrgContext, *, now: datetime | None = None, zone: tzinfo | None = None) -> dict[str, Any]:
    """What a support lead watches, over the sessions ``ctx`` may view: sessions today and this week (in ``zone``,
    weeks from Monday), the median time to connect (created -> started) and the median duration this week, and per
    agent this week (count, median duration). Two queries, whatever the number of sessions."""
    zone = zone or timezone.get_current_timezone()
    now = now or timezone.now()
    local_today: date = timezone.localtime(now, zone).date()
    today = timezone.make_aware(datetime.combine(local_today, time.min), zone)
    week = today - timedelta(days=local_today.weekday())
    rows = list(
        sessions_visible(ctx)
        .filter(created_at__gte=min(week, today))
        .values_list("created_at", "started_at", "ended_at", "agent_id", "agent_label")
    )
    to_connect = [(s - c).total_seconds() for c, s, _e, _a, _l in rows if s]
    durations = [(e - s).total_seconds() for _c, s, e, _a, _l in rows if s and e]
    per_agent: dict[Any, dict[str, Any]] = {}
    for _c, started, ended, agent_id, label in rows:
        entry = per_agent.setdefault(agent_id, {"agent_id": agent_id, "name": label, "count": 0, "durations": []})
        entry["count"] += 1
        if started and ended:
            entry["durations"].append((ended - started).total_seconds())
    if per_agent:
        from orgs.models import User

        names = {
            user.pk: user.get_full_name() or user.email
            for user in User.objects.filter(pk__in=[k for k in per_agent if k is not None])
        }
        for agent_id, entry in per_agent.items():
            entry["name"] = names.get(agent_id) or entry["name"] or _("(no agent)")
    agents = sorted(
        (
            {"name": e["name"], "count": e["count"], "median_duration": _median_seconds(e["durations"])}
            for e in per_agent.values()
        ),
        key=lambda e: (-e["count"], e["name"]),
    )
    return {
        "today": sum(1 for c, *_rest in rows if c >= today),
        "week": len(rows),
        "median_to_connect": _median_seconds(to_connect),
        "median_duration": _median_seconds(durations),
        "agents": agents,
    }


# --- CSV -------------------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "id",
    "created_at",
    "started_at",
    "ended_at",
    "time_zone",
    "status",
    "outcome",
    "duration_seconds",
    "agent",
    "customer_name",
    "customer_email",
    "ticket_ref",
    "tags",
    "rating",
]


def csv_lines(sessions: QuerySet[SupportSession], zone: tzinfo) -> Iterator[str]:
    """The CSV of ``sessions``, one line at a time (constant memory), times in ``zone`` (named in its column)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    zone_name = str(zone)

    def line(row: list) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_safe(value) for value in row])
        return buffer.getvalue()

    def moment(value: datetime | None) -> str:
        return timezone.localtime(value, zone).isoformat() if value else ""

    yield line(CSV_COLUMNS)
    for session in sessions.iterator(chunk_size=500):
        yield line(
            [
                session.public_id,
                moment(session.created_at),
                moment(session.started_at),
                moment(session.ended_at),
                zone_name,
                session.status,
                session.end_reason,
                session.duration_seconds if session.duration_seconds is not None else "",
                session.agent_name,
                session.customer_name,
                session.customer_email,
                session.ticket_ref,
                " ".join(str(tag) for tag in (session.tags or [])),
                session.rating if session.rating is not None else "",
            ]
        )
