"""The Usage page: the last 30 days per metric and per agent, this month against the plan's limits, and the CSV.

Owners and admins see it (``usage:read``). Its figures come from :mod:`billing.metering`, as do the API's.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils import formats
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError
from orgs.views import OrgScopedMixin

from . import entitlements, metering
from .models import Metric
from .views import limit_text


def _fraction(used: int, allowed: int | None) -> float | None:
    if allowed is None or allowed <= 0:
        return None
    return min(1.0, used / allowed)


def _limit_phrase(allowed: int | None, limited: str, none: str) -> str:
    if allowed is None:
        return _("unlimited on your plan")
    return none if allowed == 0 else limited


def _month_figures(organization: Any, ents: entitlements.Entitlements, today: date) -> list[dict[str, Any]]:
    """This calendar month (UTC) for each metric, against its plan limit where the plan has one."""
    month_start = today.replace(day=1)
    totals = metering.usage_totals(organization, month_start, today)
    figures: list[dict[str, Any]] = []
    for code, info in metering.METRICS.items():
        allowed = ents.limit(info.limit_key) if info.limit_key else None
        used = totals[code]
        figure: dict[str, Any] = {"metric": code, "label": info.label}
        if info.limit_kind == "stored":
            used = metering.storage_in_use(organization)
            figure["label"] = _("Recording storage in use")
            figure["value"] = filesizeformat(used)
            figure["limit"] = _limit_phrase(
                allowed, _("of %(limit)s") % {"limit": limit_text(info.limit_key, allowed)}, _("none on your plan")
            )
        elif info.limit_kind == "minute":
            peak = metering.busiest_api_minute(organization, month_start)
            figure["value"] = f"{used:,}"
            figure["limit"] = _limit_phrase(
                allowed,
                _("busiest minute %(peak)s of %(limit)s a minute")
                % {"peak": f"{peak:,}", "limit": limit_text(info.limit_key, allowed)},
                _("no API on your plan"),
            )
            used = peak  # the meter shows the busiest minute against the per-minute rate
        elif info.limit_kind == "month":
            figure["value"] = f"{used:,}"
            figure["limit"] = _limit_phrase(
                allowed,
                _("of %(limit)s this month") % {"limit": limit_text(info.limit_key, allowed)},
                _("none on your plan"),
            )
        else:
            figure["value"] = f"{used:,}"
            figure["limit"] = _("no monthly limit")
        fraction = _fraction(used, allowed)
        figure["percent"] = None if fraction is None else round(fraction * 100)
        figure["over"] = fraction is not None and fraction >= 0.9
        figures.append(figure)
    return figures


def _csv_response(organization: Any, start: date, end: date) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{organization.slug}-{start}-{end}.csv"'
    writer = csv.writer(response)
    # Only dates and numbers follow the header: nothing a spreadsheet could take for a formula.
    writer.writerow(["date", *Metric.values])
    for row in metering.usage_rows(organization, start, end):
        writer.writerow([row["date"].isoformat(), *(row[code] for code in Metric.values)])
    return response


class UsageView(OrgScopedMixin, View):
    required_scope = "usage:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = self.org.organization
        if request.GET.get("format") == "csv":
            try:
                start, end = metering.usage_range(request.GET.get("from"), request.GET.get("to"))
            except ApplicationError as error:
                return self._page(error=error, status=400)
            return _csv_response(organization, start, end)
        return self._page()

    def _page(self, *, error: ApplicationError | None = None, status: int = 200) -> HttpResponse:
        organization = self.org.organization
        ents = entitlements.entitlements_for(organization)
        today = metering.today_utc()
        start = today - timedelta(days=metering.DEFAULT_RANGE_DAYS - 1)
        series = metering.usage_days(organization, start, today)
        days = [start + timedelta(days=i) for i in range(metering.DEFAULT_RANGE_DAYS)]
        agents = metering.usage_by_agent(organization, start, today)
        for row in agents:
            row["sessions_text"], row["minutes_text"] = f"{row['sessions']:,}", f"{row['minutes']:,}"
        chart_data = {
            "labels": [formats.date_format(day, "M j") for day in days],
            "dates": [day.isoformat() for day in days],
            "series": [
                {
                    "metric": code,
                    "label": str(info.label),
                    "unit": info.unit,
                    "values": series[code],
                    "total": sum(series[code]),
                }
                for code, info in metering.METRICS.items()
            ],
            "agents": {
                "labels": [row["agent_name"] or _("Unknown agent") for row in agents],
                "minutes": [row["minutes"] for row in agents],
                "sessions": [row["sessions"] for row in agents],
                "minutes_label": _("Session minutes"),
                "sessions_label": _("Sessions"),
            },
        }
        charts = [
            {
                "metric": entry["metric"],
                "label": entry["label"],
                "total": filesizeformat(entry["total"]) if entry["unit"] == "bytes" else f"{entry['total']:,}",
            }
            for entry in chart_data["series"]
        ]
        context = {
            "ents": ents,
            "month_label": formats.date_format(today, "F Y"),
            "figures": _month_figures(organization, ents, today),
            "charts": charts,
            "chart_data": chart_data,
            "agents": agents,
            "range_start": start,
            "range_end": today,
            "csv_from": self.request.GET.get("from") or start.isoformat(),
            "csv_to": self.request.GET.get("to") or today.isoformat(),
            "error": error,
        }
        return self.render("billing/usage.html", context, status=status)
