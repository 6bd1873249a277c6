"""Self-service start (open sign-up): a signed-in person with a verified address names a new organization and lands
on its dashboard, inside the trial. Whether anyone may do this is ``CONNECT_OPEN_SIGNUP``; operators keep
``create_org``."""

from __future__ import annotations

from allauth.account.decorators import verified_email_required
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connect.errors import ApplicationError

from . import services
from .models import Organization


class OrganizationStartForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Organization name"),
        max_length=services.NAME_MAX,
        help_text=gettext_lazy("Your company or team, as your colleagues and customers know it."),
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}),
    )
    slug = forms.CharField(
        label=gettext_lazy("Web address (optional)"),
        required=False,
        max_length=Organization._meta.get_field("slug").max_length,
        help_text=gettext_lazy(
            "Lower-case letters, digits and hyphens, used in your pages' addresses (/o/your-team/). "
            "Left empty, it is made from the name."
        ),
    )


def _page(request: HttpRequest, form: OrganizationStartForm | None, *, refusal: str = "", status: int = 200):
    return render(request, "orgs/org_new.html", {"form": form, "refusal": refusal}, status=status)


@verified_email_required
def organization_new(request: HttpRequest) -> HttpResponse:
    """Name your organization: GET shows the form, POST creates it through ``services.organization_start``."""
    try:
        services.organization_start_check(user=request.user)
    except ApplicationError as exc:
        if exc.code == "signup_closed":
            raise PermissionDenied(exc.message) from None
        return _page(request, None, refusal=exc.message, status=exc.status_code)

    if request.method != "POST":
        return _page(request, OrganizationStartForm())
    form = OrganizationStartForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        organization = services.organization_start(
            user=request.user, name=form.cleaned_data["name"], slug=form.cleaned_data["slug"] or None
        )
    except ApplicationError as exc:
        field = exc.details.get("field")
        form.add_error(field if field in form.fields else None, exc.message)
        return _page(request, form, status=exc.status_code)
    messages.success(
        request,
        _("%(org)s is ready. Your trial has started: invite your agents and start a first session.")
        % {"org": organization.name},
    )
    return redirect("org_dashboard", org_slug=organization.slug)
