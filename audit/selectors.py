"""Reading the audit log: one set of filters for the API, the export and the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from connect.api.params import moment_param
from connect.errors import ApplicationError
from orgs.models import Organization

from .models import AuditEntry

FILTERS = ("action", "actor", "target", "since", "until")


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_query(self) -> dict[str, str]:
        values = {"action": self.action, "actor": self.actor, "target": self.target}
        values |= {name: getattr(self, name).isoformat() for name in ("since", "until") if getattr(self, name)}
        return {name: value for name, value in values.items() if value}


def filters_from(params: Mapping[str, str]) -> AuditFilters:
    """Parse query parameters; a bad one is a 400 naming it."""
    text = {}
    for name in ("action", "actor", "target"):
        value = (params.get(name) or "").strip()
        if len(value) > 80 or "\x00" in value:
            raise ApplicationError(
                _("'%(n)s' is not a valid filter.") % {"n": name}, code="validation_error", details={"field": name}
            )
        text[name] = value
    since = moment_param("since", params["since"], dates=True) if params.get("since") else None
    until = moment_param("until", params["until"], dates=True, end_of_day=True) if params.get("until") else None
    return AuditFilters(since=since, until=until, **text)


def audit_entries(organization: Organization, filters: AuditFilters | None = None) -> QuerySet[AuditEntry]:
    """``organization``'s entries matching ``filters``, newest first. ``action`` ending in ``.*`` matches a family
    (``session.*``); ``actor`` and ``target`` are public ids."""
    entries = AuditEntry.objects.for_org(organization).order_by("-seq")
    if filters is None:
        return entries
    if filters.action.endswith(".*"):
        entries = entries.filter(action__startswith=filters.action[:-1])
    elif filters.action:
        entries = entries.filter(action=filters.action)
    if filters.actor:
        entries = entries.filter(actor_id=filters.actor)
    if filters.target:
        entries = entries.filter(target_id=filters.target)
    if filters.since:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until:
        entries = entries.filter(created_at__lte=filters.until)
    return entries
