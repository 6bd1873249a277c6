"""Pages' side of the session workflow (sessions.workflow): the viewer panel's forms and the customer's rating.

Plain HTML forms that post and come back to the page they were sent from, so they work without JavaScript; the
services decide everything, and their errors are shown as the page's message."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError, NotFound
from orgs.views import OrgScopedMixin

from . import selectors, services, workflow
from .models import SupportSession
from .views import CUSTOMER_SESSIONS_KEY, _session_or_refusal


class _WorkflowFormView(OrgScopedMixin, View):
    """A viewer-panel form: the session must be one the person may operate (sessions.selectors)."""

    required_scope = "sessions:write"

    def act(self, request: HttpRequest, session: SupportSession, actor: services.Actor) -> str:
        """Do it; return the message to show."""
        raise NotImplementedError

    def post(self, request: HttpRequest, session_id: str) -> HttpResponse:
        session = _session_or_refusal(self, session_id, selectors.SessionAction.OPERATE)
        if isinstance(session, HttpResponse):
            return session
        actor = services.Actor.from_request(request, "agent", request.user)
        try:
            done = self.act(request, session, actor)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if done:
                messages.success(request, done)
            if selectors.SessionAction.OPERATE not in selectors.session_actions(self.org, session):
                return redirect("session_dashboard", org_slug=self.org.organization.slug)
        viewer = reverse("session_viewer", args=[self.org.organization.slug, session.public_id])
        return redirect(f"{viewer}#workflow")


class SessionTransferPageView(_WorkflowFormView):
    def act(self, request, session, actor):
        session = workflow.session_transfer(
            org=self.org, session=session, to_agent_id=request.POST.get("agent_id", ""), actor=actor
        )
        return _("The session now belongs to %(name)s; the customer stays connected.") % {"name": session.agent_name}


class SessionDetailsPageView(_WorkflowFormView):
    def act(self, request, session, actor):
        before = (list(session.tags or []), session.ticket_ref)
        workflow.session_details_update(
            session=session,
            actor=actor,
            tags=request.POST.get("tags", ""),
            ticket_ref=request.POST.get("ticket_ref", ""),
        )
        return _("Saved.") if (list(session.tags), session.ticket_ref) != before else ""


class SessionNotePageView(_WorkflowFormView):
    def act(self, request, session, actor):
        workflow.session_note_add(session=session, actor=actor, text=request.POST.get("text", ""))
        return _("Note added.")


class SessionInviteEmailPageView(_WorkflowFormView):
    def act(self, request, session, actor):
        session = workflow.session_invite_email(session=session, actor=actor, email=request.POST.get("email", ""))
        return _("Invitation sent to %(email)s.") % {"email": session.customer_email}


def customer_rate(request: HttpRequest, session_id: str) -> HttpResponse:
    """The customer rates their ended session, once, from the "This session has ended" card."""
    if request.method != "POST":
        return redirect("customer_session", session_id=session_id)
    token = request.session.get(CUSTOMER_SESSIONS_KEY, {}).get(session_id)
    try:
        session = services.session_for_customer(session_id, token or "")
    except NotFound:
        raise Http404 from None
    try:
        workflow.session_rate(
            session=session,
            actor=services.Actor(
                kind="customer",
                ip=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
                label=session.customer_name or "customer",
            ),
            rating=request.POST.get("rating", ""),
            comment=request.POST.get("comment", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("customer_session", session_id=session_id)
