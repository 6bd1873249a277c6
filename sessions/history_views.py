"""Pages of the session history: the searchable history, its CSV export, and the viewer's session-log fragment the
live pages refetch when the organization's socket hints that a session changed (signaling.org_live)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views import View

from connect.errors import ApplicationError
from orgs.models import Role
from orgs.roles import role_at_least
from orgs.selectors import organization_members
from orgs.views import OrgScopedMixin

from . import history, selectors
from .models import Status
from .views import _session_or_refusal


def _agents_for_filter(view: OrgScopedMixin) -> list:
    """The agents one may filter by: everyone who takes sessions, unless the person only sees their own."""
    members = [m for m in organization_members(view.org.organization) if role_at_least(m.role, Role.AGENT)]
    everyone = role_at_least(view.org.role, Role.ADMIN) or view.org.organization.agents_see_all_sessions
    if not everyone and view.org.user is not None:
        members = [m for m in members if m.user_id == view.org.user.pk]
    return members


class SessionHistoryView(OrgScopedMixin, View):
    """``/o/<slug>/sessions/history/``: search, filters, pages of 50; ``?export=csv`` streams the filtered set."""

    required_scope = "sessions:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        error = None
        try:
            filters = history.parse_filters(request.GET)
        except ApplicationError as exc:  # a bad filter (400, validation_error, naming the field)
            error, filters = exc, history.HistoryFilters()
        if error is None and request.GET.get("export") == "csv":
            return self._csv(filters)
        sessions = history.search(self.org, filters) if error is None else history.search(self.org, filters).none()
        page = Paginator(sessions, history.PAGE_SIZE).get_page(request.GET.get("page"))
        operable = {
            s.public_id
            for s in page.object_list
            if selectors.SessionAction.OPERATE in selectors.session_actions(self.org, s)
        }
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("export", None)
        return self.render(
            "sessions/history.html",
            {
                "page": page,
                "operable": operable,
                "filters": request.GET,
                "error": error,
                "outcomes": list(history.OUTCOMES.items()),
                "statuses": Status.choices,
                "agents": _agents_for_filter(self),
                "query": query.urlencode(),
                "zone": timezone.get_current_timezone_name(),
            },
            status=error.status_code if error else 200,
        )

    def _csv(self, filters: history.HistoryFilters) -> StreamingHttpResponse:
        zone = timezone.get_current_timezone()
        response = StreamingHttpResponse(
            history.csv_lines(history.search(self.org, filters), zone), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime(timezone.now(), zone).strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="sessions-{self.org.organization.slug}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


class SessionLogFragmentView(OrgScopedMixin, View):
    """The viewer's session log alone, for the viewer to refresh it in place (same access rule as the viewer)."""

    required_scope = "sessions:read"

    def get(self, request: HttpRequest, session_id: str) -> HttpResponse:
        session = _session_or_refusal(self, session_id, selectors.SessionAction.VIEW)
        if isinstance(session, HttpResponse):
            return session
        response = self.render(
            "sessions/_viewer_log.html", {"session": session, "events": selectors.session_events(session)}
        )
        response["Cache-Control"] = "no-store"
        return response
