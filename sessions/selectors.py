"""Reads for support sessions, always inside one organization.

Who may see or act on a support session is decided here, once, for the API, the pages and the WebSocket consumer
(:func:`session_actions`). The matrix:

============================================  ==========================  ==========================
who (in the session's organization)           ``view``                    ``operate``
============================================  ==========================  ==========================
the session's agent                           yes (``sessions:read``)     yes (``sessions:write``)
owners and admins                             yes (``sessions:read``)     yes (``sessions:write``)
the organization's API keys, OAuth2 clients   yes (``sessions:read``)     yes (``sessions:write``)
another agent, ``agents_see_all_sessions``    yes (``sessions:read``)     no: 403 ``session_not_yours``
another agent, setting off (the default)      no: 404                     no: 404
anyone of another organization                no: 404                     no: 404
============================================  ==========================  ==========================

``view`` is reading: the detail, the event log, the history and live lists. ``operate`` is everything that drives or
changes the session: the viewer page, the agent's WebSocket, ending it. Whoever may not view gets the same 404 as for
a session that does not exist; whoever may view but not operate is told why (403).
"""

from __future__ import annotations

from enum import StrEnum

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from connect.errors import Forbidden, NotFound
from orgs.models import Organization, Role
from orgs.roles import role_at_least
from orgs.tenancy import OrgContext, Principal, get_for_org_or_404, org_context_for_principal

from .models import SessionEvent, SupportSession


class SessionAction(StrEnum):
    VIEW = "view"
    OPERATE = "operate"


# The scope each action needs, whoever holds the credential.
ACTION_SCOPES: dict[SessionAction, str] = {
    SessionAction.VIEW: "sessions:read",
    SessionAction.OPERATE: "sessions:write",
}


def sessions_for_org(organization: Organization) -> QuerySet[SupportSession]:
    return SupportSession.objects.for_org(organization).select_related("agent", "organization")


def session_events(session: SupportSession) -> QuerySet[SessionEvent]:
    return session.events.select_related("actor").order_by("created_at", "id")


def _sees_every_session(ctx: OrgContext) -> bool:
    """Owners, admins and the organization's own credentials (no person) reach every session of the organization."""
    return ctx.user is None or role_at_least(ctx.role, Role.ADMIN)


def session_actions(ctx: OrgContext, session: SupportSession) -> frozenset[SessionAction]:
    """What ``ctx`` may do with ``session``: the one rule (see the module's matrix). Runs no query."""
    if session.organization_id != ctx.organization.pk:
        return frozenset()
    if _sees_every_session(ctx) or (ctx.user is not None and session.agent_id == ctx.user.pk):
        allowed = set(SessionAction)
    elif ctx.organization.agents_see_all_sessions:
        allowed = {SessionAction.VIEW}
    else:
        allowed = set()
    return frozenset(action for action in allowed if ctx.has_scope(ACTION_SCOPES[action]))


def session_check_access(ctx: OrgContext, session: SupportSession, action: SessionAction) -> None:
    """Raise unless ``ctx`` may ``action`` ``session``: 404 when it may not even view it (nothing tells it the session
    exists), 403 when it may view it but not this."""
    allowed = session_actions(ctx, session)
    if action in allowed:
        return
    if SessionAction.VIEW not in allowed:
        raise NotFound(_("Session not found."))
    scope = ACTION_SCOPES[action]
    if (_sees_every_session(ctx) or session.agent_id == ctx.user.pk) and not ctx.has_scope(scope):
        raise Forbidden(
            _("This credential lacks the '%(scope)s' scope.") % {"scope": scope},
            code="missing_scope",
            details={"required_scope": scope},
        )
    raise Forbidden(
        _(
            "This session is run by another agent: you can see it, but only its agent or an admin of the organization "
            "can open the viewer, connect to it or end it."
        ),
        code="session_not_yours",
        details={"action": str(action)},
    )


def session_for(ctx: OrgContext, session_id: str, action: SessionAction) -> SupportSession:
    """The session ``session_id`` of ``ctx``'s organization, if ``ctx`` may ``action`` it (else 404 or 403)."""
    queryset = SupportSession.objects.select_related("agent", "organization")
    try:
        session = get_for_org_or_404(queryset, ctx.organization, public_id=session_id)
    except NotFound:
        raise NotFound(_("Session not found.")) from None
    session_check_access(ctx, session, action)
    return session


def sessions_visible(ctx: OrgContext, queryset: QuerySet[SupportSession] | None = None) -> QuerySet[SupportSession]:
    """The sessions ``ctx`` may view (lists: live, history, the API's), narrowing ``queryset`` when given.

    One filter, no extra query: a list costs the same whoever asks."""
    queryset = (queryset if queryset is not None else SupportSession.objects.all()).for_org(ctx.organization)
    if not ctx.has_scope(ACTION_SCOPES[SessionAction.VIEW]):
        return queryset.none()
    if _sees_every_session(ctx) or ctx.organization.agents_see_all_sessions:
        return queryset
    return queryset.filter(agent=ctx.user)


def session_for_agent(principal: Principal | None, session_id: str) -> SupportSession:
    """The session ``principal`` may run as the agent (the WebSocket): :func:`session_for` with ``operate``, in the
    session's own organization. A socket's agent is a person, so an organization's credential is refused (404)."""
    if principal is None or principal.user is None:
        raise NotFound(_("Session not found."))
    # Organization is not org-owned: finding which one holds the id reveals nothing until membership is checked.
    organization = Organization.objects.filter(supportsession__public_id=session_id).first()
    if organization is None:
        raise NotFound(_("Session not found."))
    ctx = org_context_for_principal(principal, organization.public_id)  # 404 unless the person belongs to it
    return session_for(ctx, session_id, SessionAction.OPERATE)
