"""Retention per organization: session logs, chat (of sessions and meetings) and audit entries older than the
organization keeps them.

Run daily by Celery beat (``audit.retention_purge``). Idempotent: a second run the same day finds nothing older and
records nothing. Each purge that removed something is itself recorded in the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from meetings.models import MeetingMessage
from orgs.models import Organization
from sessions.models import ChatMessage, SessionEvent

from .services import audit_purge_before, audit_record

CHAT = "chat"  # chat lines now live in ChatMessage; log lines of this type are left from before (text-less)


def retention_purge(*, organization: Organization, now: datetime | None = None) -> dict[str, int]:
    """Apply ``organization``'s retention settings; answers how many rows of each kind went."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    with transaction.atomic():
        events = SessionEvent.objects.for_org(organization)
        if organization.chat_retention_days:
            cutoff = now - timedelta(days=organization.chat_retention_days)
            lines = ChatMessage.objects.for_org(organization).filter(created_at__lt=cutoff).delete()[0]
            counts["chat_lines"] = lines + events.filter(type=CHAT, created_at__lt=cutoff).delete()[0]
            counts["meeting_chat_lines"] = (
                MeetingMessage.objects.for_org(organization).filter(created_at__lt=cutoff).delete()[0]
            )
        if organization.session_log_retention_days:
            cutoff = now - timedelta(days=organization.session_log_retention_days)
            counts["session_events"] = events.filter(~Q(type=CHAT), created_at__lt=cutoff).delete()[0]
        if any(counts.values()):
            audit_record(
                organization=organization,
                action="retention.purged",
                data={
                    **counts,
                    "chat_retention_days": organization.chat_retention_days,
                    "session_log_retention_days": organization.session_log_retention_days,
                },
            )
    if organization.audit_retention_days:
        counts["audit_entries"] = audit_purge_before(
            organization=organization, before=now - timedelta(days=organization.audit_retention_days)
        )
    return counts


def retention_purge_all(now: datetime | None = None) -> int:
    """Every organization that keeps something for a limited time; answers how many rows went in all."""
    keeping = Organization.objects.filter(
        Q(chat_retention_days__isnull=False)
        | Q(session_log_retention_days__isnull=False)
        | Q(audit_retention_days__isnull=False)
    )
    return sum(sum(retention_purge(organization=organization, now=now).values()) for organization in keeping)
