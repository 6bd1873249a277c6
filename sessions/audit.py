"""The organization's append-only audit log: who did what to which object, from where."""

from __future__ import annotations

from typing import Any

from orgs.models import Organization

from .models import AuditEntry


def audit_record(
    *,
    organization: Organization,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    target: Any = None,
    ip: str | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the change it records, so both commit or neither."""
    user = actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        organization=organization,
        action=action,
        actor=user,
        actor_label=actor_label or (user.email if user else ""),
        target_type=target._meta.model_name if target is not None else "",
        target_id=getattr(target, "public_id", "") if target is not None else "",
        ip=ip,
        data=data or {},
    )
