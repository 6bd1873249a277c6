"""Streamed exports of the audit log (CSV and JSON Lines): constant memory whatever the log's length."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from orgs.models import Organization

from .services import entry_payload

COLUMNS = [
    "seq",
    "created_at",
    "action",
    "actor_kind",
    "actor_id",
    "actor_label",
    "target_type",
    "target_id",
    "target_label",
    "ip",
    "data",
    "prev_hash",
    "hash",
]


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) is quoted with a leading apostrophe;
    every CSV export the product writes passes its cells through here."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(entries: QuerySet) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: list) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(COLUMNS)
    for entry in entries.iterator(chunk_size=1000):
        yield line(
            [
                entry.seq,
                entry.created_at.isoformat(),
                spreadsheet_safe(entry.action),
                entry.actor_kind,
                entry.actor_id,
                spreadsheet_safe(entry.actor_label),
                entry.target_type,
                entry.target_id,
                spreadsheet_safe(entry.target_label),
                entry.ip or "",
                spreadsheet_safe(json.dumps(entry.data, sort_keys=True, ensure_ascii=False)),
                entry.prev_hash,
                entry.hash,
            ]
        )


def json_lines(entries: QuerySet) -> Iterator[str]:
    for entry in entries.iterator(chunk_size=1000):
        yield json.dumps(entry_payload(entry), sort_keys=True, ensure_ascii=False) + "\n"


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


def export_response(organization: Organization, entries: QuerySet, extension: str) -> StreamingHttpResponse:
    """``entries`` streamed as a download (``csv`` or ``jsonl``), never cached. The plan must include the export;
    a read-only organization still may (reading what it has is never stopped)."""
    from billing import entitlements

    entitlements.require_feature(organization, "audit_export", writes=False)
    lines = csv_lines(entries) if extension == "csv" else json_lines(entries)
    response = StreamingHttpResponse(lines, content_type=MEDIA_TYPES[extension])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{organization.slug}-{stamp}.{extension}"'
    response["Cache-Control"] = "no-store"
    return response
