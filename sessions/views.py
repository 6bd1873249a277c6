"""Pages: the agent's dashboard and viewer, and the customer's join, consent and sharing pages."""

from __future__ import annotations

import dataclasses

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.decorators.http import require_POST

from billing import entitlements
from connect.errors import ApplicationError, Forbidden, NotFound
from connect.links import absolute_url
from orgs.models import Organization, Role
from orgs.roles import role_at_least
from orgs.selectors import organization_members
from orgs.views import OrgScopedMixin
from signaling import live
from signaling.ice import ice_servers

from . import chat, selectors, services
from .history import figures as history_figures
from .models import Status, SupportSession

CUSTOMER_SESSIONS_KEY = "customer_sessions"  # session id -> customer token, in the customer's browser session


class SessionStartForm(forms.Form):
    # Lengths are the services' business (they trim); the form refuses what no text field may hold (a NUL byte).
    customer_name = forms.CharField(required=False)


class JoinForm(forms.Form):
    code = forms.CharField(required=False)
    name = forms.CharField(required=False)
    confirm = forms.CharField(required=False)


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


class SessionDashboardView(OrgScopedMixin, View):
    """Start a session; see live sessions, who is online, and the history."""

    required_scope = "sessions:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = self.org.organization
        sessions = selectors.sessions_visible(self.org).select_related("agent", "organization")
        live_sessions = list(sessions.filter(status__in=[Status.WAITING, Status.CONSENT_REQUESTED, Status.ACTIVE])[:50])
        history = list(sessions.exclude(status__in=[Status.WAITING, Status.CONSENT_REQUESTED, Status.ACTIVE])[:50])
        # Sessions another agent runs are listed (when the organization shows them) but not linked to the viewer.
        operable = {
            s.public_id
            for s in live_sessions + history
            if selectors.SessionAction.OPERATE in selectors.session_actions(self.org, s)
        }
        members = [m for m in organization_members(organization) if role_at_least(m.role, Role.AGENT)]
        online = live.online_agents_sync([m.user.public_id for m in members])
        return self.render(
            "sessions/dashboard.html",
            {
                "live_sessions": live_sessions,
                "history": history,
                "agents": [(m, m.user.public_id in online) for m in members],
                "operable": operable,
                "can_start": self.has_scope("sessions:write"),
                # Figures a support lead watches, over the same visible sessions (sessions.history).
                "figures": history_figures(self.org),
                "zone": timezone.get_current_timezone_name(),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("sessions:write"):
            raise PermissionDenied
        form = SessionStartForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            response = self.get(request)
            response.status_code = 400
            return response
        try:
            session = services.session_start(
                org=self.org,
                actor=services.Actor.from_request(request, "agent", request.user),
                customer_name=form.cleaned_data["customer_name"],
            )
        except ApplicationError as exc:  # the plan's live sessions are all in use, or the organization is read-only
            messages.error(request, exc.message)
            response = self.get(request)
            response.status_code = exc.status_code
            return response
        return redirect("session_viewer", org_slug=self.org.organization.slug, session_id=session.public_id)


def _session_or_refusal(view: OrgScopedMixin, session_id: str, action: str) -> SupportSession | HttpResponse:
    """The session, if the person may ``action`` it (sessions.selectors); a 404 when they may not even see it, and a
    403 page saying why when they may see it but not this."""
    try:
        return selectors.session_for(view.org, session_id, selectors.SessionAction(action))
    except NotFound:
        raise Http404 from None
    except Forbidden as exc:
        return view.render("sessions/refused.html", {"message": exc.message}, status=exc.status_code)


class SessionViewerView(OrgScopedMixin, View):
    """The agent's view of one session: code and link while waiting, the customer's screen, chat, the log."""

    required_scope = "sessions:read"

    def get(self, request: HttpRequest, session_id: str) -> HttpResponse:
        session = _session_or_refusal(self, session_id, selectors.SessionAction.OPERATE)
        if isinstance(session, HttpResponse):
            return session
        can_drive = selectors.SessionAction.OPERATE in selectors.session_actions(self.org, session)
        ents = entitlements.entitlements_for(session.organization)
        from recordings.models import Recording

        return self.render(
            "sessions/viewer.html",
            {
                "can_record": can_drive
                and session.is_live
                and ents.has("recording")
                and session.organization.recording_policy != Organization.RecordingPolicy.OFF,
                "recording_mandatory": session.organization.recording_policy == Organization.RecordingPolicy.MANDATORY,
                "recordings": list(
                    Recording.objects.for_org(session.organization).filter(session=session).order_by("created_at")
                ),
                "session": session,
                "join_url": absolute_url("join_code", session.code),
                "events": selectors.session_events(session),
                "chat_lines": chat.chat_lines(session),
                "can_drive": can_drive and session.is_live,
                "time_limit_minutes": ents.limit("max_session_minutes"),
                "time_limit_ends_at": services.session_time_limit_ends_at(session) if session.is_live else None,
            },
        )


class SessionEndView(OrgScopedMixin, View):
    required_scope = "sessions:write"

    def post(self, request: HttpRequest, session_id: str) -> HttpResponse:
        session = _session_or_refusal(self, session_id, selectors.SessionAction.OPERATE)
        if isinstance(session, HttpResponse):
            return session
        try:
            services.session_end(session=session, actor=services.Actor.from_request(request, "agent", request.user))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("session_viewer", org_slug=self.org.organization.slug, session_id=session.public_id)


def _join_page(request, *, code="", session=None, error=None, status=200):
    return render(request, "sessions/join.html", {"code": code, "session": session, "error": error}, status=status)


def join(request: HttpRequest, code: str = "") -> HttpResponse:
    """``/join`` and ``/join/<code>``: the customer types or follows a code, sees who asks, and continues."""
    form = JoinForm(request.POST if request.method == "POST" else None)
    if form.is_bound:
        if not form.is_valid():
            return _join_page(request, error=_form_errors(form), status=400)
        code = form.cleaned_data["code"]
    if not code:
        return _join_page(request)
    actor = services.Actor.from_request(request, "customer")
    try:
        if form.is_bound and form.cleaned_data["confirm"]:
            session, token = services.session_join_guarded(code=code, name=form.cleaned_data["name"], actor=actor)
            joined = request.session.get(CUSTOMER_SESSIONS_KEY, {})
            joined[session.public_id] = token
            request.session[CUSTOMER_SESSIONS_KEY] = joined
            return redirect("customer_session", session_id=session.public_id)
        joined = request.session.get(CUSTOMER_SESSIONS_KEY, {})
        session = services.session_for_code_guarded(code=code, actor=actor, joined=joined)
    except ApplicationError as exc:
        return _join_page(request, code=code, error=exc.message, status=exc.status_code)
    if session.customer_token_hash:  # this browser joined already (a reload, the link again): back to its page
        return redirect("customer_session", session_id=session.public_id)
    return _join_page(request, code=session.code, session=session)


def customer_session(request: HttpRequest, session_id: str) -> HttpResponse:
    """The customer's page: consent, the "you are sharing" indicator with a stop button, chat."""
    token = request.session.get(CUSTOMER_SESSIONS_KEY, {}).get(session_id)
    try:
        session = services.session_for_customer(session_id, token or "")
    except NotFound:
        raise Http404 from None
    return render(
        request,
        "sessions/customer.html",
        {
            "session": session,
            "customer_token": token,
            "ice_servers": ice_servers(f"customer-{session.public_id}"),
            "chat_lines": chat.chat_lines(session),
        },
    )


ATTEND_LAUNCHERS = {
    # (file name, media type, content): run by the customer on the computer the browser is on.
    "windows": (
        "connect-attend-{code}.cmd",
        "application/octet-stream",
        "@echo off\r\nrem BizGaze Connect: let {agent} ({org}) control this computer for session {code}.\r\n"
        "rem Needs the BizGaze Connect desktop agent (connect-agent). The ticket below works once, for ten minutes.\r\n"
        "connect-agent attend --server {server} --ticket {ticket}\r\npause\r\n",
    ),
    "unix": (
        "connect-attend-{code}.sh",
        "text/x-shellscript",
        "#!/bin/sh\n# BizGaze Connect: let {agent} ({org}) control this computer for session {code}.\n"
        "# Needs the BizGaze Connect desktop agent (connect-agent). The ticket below works once, for ten minutes.\n"
        "# Run it with: sh {file}\n"
        "exec connect-agent attend --server {server} --ticket {ticket}\n",
    ),
}


@require_POST
def customer_attend_download(request: HttpRequest, session_id: str) -> HttpResponse:
    """The customer's page: download a one-time launcher that hands this session to the desktop agent."""
    token = request.session.get(CUSTOMER_SESSIONS_KEY, {}).get(session_id)
    try:
        session = services.session_for_customer(session_id, token or "")
    except NotFound:
        raise Http404 from None
    kind = "windows" if request.POST.get("os") == "windows" else "unix"
    actor = services.Actor.from_request(request, "customer")
    actor = dataclasses.replace(actor, label=session.customer_name or "customer")
    try:
        ticket = services.attend_ticket_issue(session=session, customer_token=token, actor=actor)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=exc.status_code, content_type="text/plain; charset=utf-8")
    name, media_type, template = ATTEND_LAUNCHERS[kind]
    file_name = name.format(code=session.code)
    safe = {  # the names go into a script: keep only what cannot break out of a comment line
        "agent": "".join(ch for ch in session.agent_name if ch.isalnum() or ch in " .-'")[:80],
        "org": "".join(ch for ch in session.organization.name if ch.isalnum() or ch in " .-'&")[:80],
    }
    body = template.format(code=session.code, server=settings.SITE_URL, ticket=ticket, file=file_name, **safe)
    response = HttpResponse(body, content_type=media_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    return response
