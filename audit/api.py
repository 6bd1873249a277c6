"""API v1 for the audit log: list with filters, verify, and streamed exports (scope ``audit:read``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from connect.api.pagination import MAX_PAGE
from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView

from . import export, selectors
from .models import AuditEntry
from .services import audit_verify, entry_payload

FILTER_PARAMETERS = [
    OpenApiParameter("action", str, description="An action (`member.added`), or a family (`member.*`)."),
    OpenApiParameter("actor", str, description="The acting person's or credential's public id."),
    OpenApiParameter("target", str, description="The public id of the object acted on."),
    OpenApiParameter("since", str, description="A date or ISO 8601 date-time (inclusive)."),
    OpenApiParameter("until", str, description="A date (to its end) or ISO 8601 date-time (inclusive)."),
]


class AuditCursorPagination(CursorPagination):
    ordering = ("-seq",)
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE


class PartySerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.CharField()
    label = serializers.CharField()


class TargetSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    label = serializers.CharField()


class AuditEntryOutput(serializers.Serializer):
    seq = serializers.IntegerField()
    action = serializers.CharField()
    actor = PartySerializer()
    target = TargetSerializer()
    ip = serializers.IPAddressField(allow_null=True)
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()

    def to_representation(self, entry: AuditEntry) -> dict:
        created_at = serializers.DateTimeField().to_representation(entry.created_at)
        return {**entry_payload(entry), "created_at": created_at}


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class AuditListView(OrgAPIView):
    model = AuditEntry
    required_scopes = {"GET": "audit:read"}
    serializer_class = AuditEntryOutput
    pagination_class = AuditCursorPagination

    def scope_queryset(self, queryset):
        filters = selectors.filters_from(self.request.query_params)
        return selectors.audit_entries(self.org.organization, filters)

    @extend_schema(
        summary="Audit log",
        operation_id="audit_list",
        description="Newest first, page by page with an opaque `cursor`.",
        responses=AuditEntryOutput(many=True),
        parameters=FILTER_PARAMETERS,
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AuditEntryOutput(page, many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class AuditVerifyView(OrgAPIView):
    model = AuditEntry
    required_scopes = {"GET": "audit:read"}

    @extend_schema(
        summary="Verify the audit chain",
        operation_id="audit_verify",
        description="Walks the organization's hash chain from its anchor. `ok`, or the first `broken_seq`.",
        responses=inline_serializer(
            "AuditVerification",
            {
                "ok": serializers.BooleanField(),
                "checked": serializers.IntegerField(),
                "last_seq": serializers.IntegerField(),
                "broken_seq": serializers.IntegerField(required=False),
                "reason": serializers.CharField(required=False),
            },
        ),
    )
    def get(self, request):
        return Response(audit_verify(organization=self.org.organization).as_dict())


class _ExportView(OrgAPIView):
    model = AuditEntry
    required_scopes = {"GET": "audit:read"}
    extension = ""

    def get(self, request):
        entries = selectors.audit_entries(self.org.organization, selectors.filters_from(request.query_params))
        return export.export_response(self.org.organization, entries, self.extension)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class AuditExportCSVView(_ExportView):
    extension = "csv"

    @extend_schema(
        summary="Export the audit log as CSV",
        operation_id="audit_export_csv",
        parameters=FILTER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Streamed, oldest last.")},
    )
    def get(self, request):
        return super().get(request)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class AuditExportJSONLinesView(_ExportView):
    extension = "jsonl"

    @extend_schema(
        summary="Export the audit log as JSON Lines",
        operation_id="audit_export_jsonl",
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="One entry per line, streamed.")
        },
    )
    def get(self, request):
        return super().get(request)
