"""Pages' side of a session's chat (sessions.chat): the viewer's transcript downloads and the e-mail to the customer.

Downloads follow the rule of the session's log (``view``); e-mailing the customer acts on the session (``operate``).
The e-mail form posts and comes back to the viewer with a message, so it works without JavaScript."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError
from orgs.views import OrgScopedMixin

from . import chat, selectors, services
from .chat_api import transcript_response
from .views import _session_or_refusal


class SessionChatTranscriptPageView(OrgScopedMixin, View):
    required_scope = "sessions:read"

    def get(self, request: HttpRequest, session_id: str, extension: str) -> HttpResponse:
        if extension not in ("txt", "json"):
            raise Http404
        session = _session_or_refusal(self, session_id, selectors.SessionAction.VIEW)
        if isinstance(session, HttpResponse):
            return session
        return transcript_response(session, extension)


class SessionChatEmailPageView(OrgScopedMixin, View):
    required_scope = "sessions:write"

    def post(self, request: HttpRequest, session_id: str) -> HttpResponse:
        session = _session_or_refusal(self, session_id, selectors.SessionAction.OPERATE)
        if isinstance(session, HttpResponse):
            return session
        to = request.POST.get("email", "")
        try:
            count = chat.chat_transcript_email(
                session=session, actor=services.Actor.from_request(request, "agent", request.user), to=to
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("The chat transcript (%(count)s messages) was e-mailed to %(to)s.")
                % {"count": count, "to": to.strip()},
            )
        viewer = reverse("session_viewer", args=[self.org.organization.slug, session.public_id])
        return redirect(f"{viewer}#chat-panel")
