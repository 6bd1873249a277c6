"""API v1 for usage: ``GET /api/v1/usage``, the daily figures behind the Usage page (scope ``usage:read``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView

from . import metering
from .models import DailyUsage, Metric


class UsageDayOutput(serializers.Serializer):
    date = serializers.DateField()
    sessions = serializers.IntegerField(help_text="Support sessions that ended this day, having been live.")
    session_minutes = serializers.IntegerField(help_text="Minutes of those sessions (started minutes).")
    meeting_minutes = serializers.IntegerField(help_text="Meeting participant-minutes.")
    recording_bytes = serializers.IntegerField(help_text="Recording bytes stored (negative: removed).")
    api_calls = serializers.IntegerField(help_text="Calls made with API keys and OAuth apps.")


class UsageTotalsOutput(serializers.Serializer):
    sessions = serializers.IntegerField()
    session_minutes = serializers.IntegerField()
    meeting_minutes = serializers.IntegerField()
    recording_bytes = serializers.IntegerField()
    api_calls = serializers.IntegerField()


# "from" is a Python keyword: the output is declared inline.
UsageOutput = inline_serializer(
    "UsageOutput",
    fields={
        "from": serializers.DateField(help_text="First day (UTC), included."),
        "to": serializers.DateField(help_text="Last day (UTC), included."),
        "days": UsageDayOutput(many=True),
        "totals": UsageTotalsOutput(),
    },
)


RANGE_PARAMETERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="First day, `YYYY-MM-DD` (UTC). Default: 29 days before `to`."
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATE,
        description=f"Last day, `YYYY-MM-DD` (UTC). Default: today. At most {metering.MAX_RANGE_DAYS} days.",
    ),
]


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class UsageView(OrgAPIView):
    model = DailyUsage
    required_scopes = {"GET": "usage:read"}
    pagination_class = None

    @extend_schema(
        summary="Usage per day",
        operation_id="usage_get",
        description="The organization's metered usage, one entry per UTC day (zeros included), and the totals of "
        "the range. The two most recent days are read live; API calls appear once their minute has ended.",
        parameters=RANGE_PARAMETERS,
        responses=UsageOutput,
    )
    def get(self, request):
        start, end = metering.usage_range(request.query_params.get("from"), request.query_params.get("to"))
        rows = metering.usage_rows(self.org.organization, start, end)
        totals = {code: sum(row[code] for row in rows) for code in Metric.values}
        return Response(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "days": [{**row, "date": row["date"].isoformat()} for row in rows],
                "totals": totals,
            }
        )
