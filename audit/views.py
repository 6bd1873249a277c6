"""The Audit log page for owners and admins: the API's filters, page by page, exports and a verification."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError
from orgs.views import OrgScopedMixin

from . import export, selectors
from .services import audit_verify

PAGE = 50


class AuditLogView(OrgScopedMixin, View):
    required_scope = "audit:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        error = ""
        try:
            filters = selectors.filters_from(request.GET)
        except ApplicationError as exc:
            filters, error = selectors.AuditFilters(), exc.message
        entries = selectors.audit_entries(self.org.organization, filters)
        before = request.GET.get("before", "")
        if before.isdigit():
            entries = entries.filter(seq__lt=int(before))
        page = list(entries[: PAGE + 1])
        older = page[PAGE - 1].seq if len(page) > PAGE else None
        actions = (
            selectors.audit_entries(self.org.organization)
            .order_by("action")
            .values_list("action", flat=True)
            .distinct()[:200]
        )
        return self.render(
            "audit/log.html",
            {
                "entries": page[:PAGE],
                "older": older,
                "filters": filters,
                "query": filters.as_query(),
                "raw": {name: request.GET.get(name, "") for name in selectors.FILTERS},
                "error": error,
                "actions": list(actions),
                "verification": request.session.pop("audit_verification", None),
            },
            status=400 if error else 200,
        )


class AuditVerifyPageView(OrgScopedMixin, View):
    required_scope = "audit:read"

    def post(self, request: HttpRequest) -> HttpResponse:
        result = audit_verify(organization=self.org.organization)
        if result.ok:
            messages.success(
                request,
                _("The audit log is intact: %(n)d entries verified, up to #%(last)d.")
                % {
                    "n": result.checked,
                    "last": result.last_seq,
                },
            )
        else:
            messages.error(
                request,
                _("The audit log does not verify from entry #%(seq)d: %(reason)s.")
                % {"seq": result.broken_seq, "reason": result.reason},
            )
        return redirect("audit_log", org_slug=self.org.organization.slug)


class AuditExportPageView(OrgScopedMixin, View):
    required_scope = "audit:read"

    def get(self, request: HttpRequest, extension: str) -> HttpResponse:
        try:
            filters = selectors.filters_from(request.GET)
            entries = selectors.audit_entries(self.org.organization, filters)
            return export.export_response(self.org.organization, entries, extension)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("audit_log", org_slug=self.org.organization.slug)
