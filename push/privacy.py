"""What push notifications hold about a person, for the personal-data export (orgs.privacy): the registrations of
their devices (described: the provider's token never leaves in an export) and their preferences. Erasure needs
nothing of its own: registrations go with the person's devices, preferences and queued messages with the person."""

from __future__ import annotations

from typing import Any

from orgs.models import User
from orgs.privacy import iso

from .models import PushPreference, PushRegistration


def export_registrations(user: User) -> list[dict[str, Any]]:
    rows = PushRegistration.objects.filter(device__user=user).select_related("device").order_by("created_at")
    return [
        {
            "id": row.public_id,
            "device": row.device.public_id,
            "provider": row.provider,
            "platform": row.platform,
            "app_version": row.app_version,
            "locale": row.locale,
            "created_at": iso(row.created_at),
            "disabled_at": iso(row.disabled_at),
            "disabled_reason": row.disabled_reason,
        }
        for row in rows
    ]


def export_preferences(user: User) -> list[dict[str, Any]]:
    preference = PushPreference.objects.filter(user=user).first()
    if preference is None:
        return []
    return [
        {
            "session_request": preference.session_request,
            "customer_waiting": preference.customer_waiting,
            "transfer": preference.transfer,
            "meeting_invitation": preference.meeting_invitation,
            "quiet_hours_start": preference.quiet_hours_start.isoformat() if preference.quiet_hours_start else None,
            "quiet_hours_end": preference.quiet_hours_end.isoformat() if preference.quiet_hours_end else None,
            "timezone": preference.timezone,
        }
    ]
