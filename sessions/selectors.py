"""Reads for support sessions, always inside one organization."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from connect.errors import NotFound
from orgs.models import Organization, Role
from orgs.roles import role_at_least
from orgs.tenancy import Principal, org_context_for_principal

from .models import SessionEvent, SupportSession


def sessions_for_org(organization: Organization) -> QuerySet[SupportSession]:
    return SupportSession.objects.for_org(organization).select_related("agent", "organization")


def session_events(session: SupportSession) -> QuerySet[SessionEvent]:
    return session.events.select_related("actor").order_by("created_at", "id")


def session_for_agent(principal: Principal | None, session_id: str) -> SupportSession:
    """The session ``principal`` may run as the agent: its own agent, or an admin of its organization taking over.

    Anything else (another organization, another agent's session, no such session) is 404.
    """
    if principal is None or principal.user is None:
        raise NotFound(_("Session not found."))
    session = SupportSession.objects.select_related("organization", "agent").filter(public_id=session_id).first()
    if session is None:
        raise NotFound(_("Session not found."))
    ctx = org_context_for_principal(principal, session.organization.public_id)
    if not ctx.has_scope("sessions:write"):
        raise NotFound(_("Session not found."))
    if ctx.user != session.agent and not role_at_least(ctx.role, Role.ADMIN):
        raise NotFound(_("Session not found."))
    return session
