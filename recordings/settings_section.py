"""The "Recording" card of the organization settings page: whether support sessions are never, optionally or always
recorded. The customer is told before consenting (sessions/customer.html); the viewer starts a mandatory recording
itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import entitlements
from connect.errors import ApplicationError
from orgs.models import Organization

if TYPE_CHECKING:
    from orgs.views import OrganizationSettingsView


class RecordingPolicyForm(forms.Form):
    recording_policy = forms.ChoiceField(
        label=gettext_lazy("Recording of support sessions"),
        choices=Organization.RecordingPolicy.choices,
        widget=forms.RadioSelect,
    )


def _context(view: OrganizationSettingsView, form: RecordingPolicyForm | None = None) -> dict[str, Any]:
    organization = view.org.organization
    return {
        "recording_form": form or RecordingPolicyForm(initial={"recording_policy": organization.recording_policy}),
        "recording_in_plan": entitlements.entitlements_for(organization).has("recording"),
    }


def settings_context(view: OrganizationSettingsView) -> dict[str, Any]:
    return _context(view)


def settings_save(view: OrganizationSettingsView, request: HttpRequest) -> HttpResponse:
    from orgs.services import organization_update_settings

    form = RecordingPolicyForm(request.POST)
    if not form.is_valid():
        return view.page(status=400, sections={"recording": _context(view, form)})
    try:
        organization_update_settings(
            organization=view.org.organization,
            actor=request.user,
            recording_policy=form.cleaned_data["recording_policy"],
        )
    except ApplicationError as exc:
        form.add_error("recording_policy", exc.message)
        return view.page(status=exc.status_code, sections={"recording": _context(view, form)})
    messages.success(request, _("Recording policy saved."))
    return redirect("org_settings", org_slug=view.org.organization.slug)


def settings_section():
    from orgs.views import SettingsSection

    return SettingsSection(template="recordings/_settings_recording.html", context=settings_context, save=settings_save)
