"""Pages for leaving: download my data, delete my account, delete an organization (orgs.privacy does the work)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from connect.errors import ApplicationError
from connect.nocache import no_store, no_store_headers

from . import privacy
from .models import Role
from .views import OrgScopedMixin

ERASE_PHRASE = "delete my account"


class AccountDeleteForm(forms.Form):
    """Proof that the person at the keyboard means it: their password, or (signed in through single sign-on,
    with no password here) a typed phrase."""

    password = forms.CharField(
        label=gettext_lazy("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
    )
    confirmation = forms.CharField(
        label=gettext_lazy("Type “%(phrase)s” to confirm") % {"phrase": ERASE_PHRASE},
        required=False,
    )

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.uses_password = request.user.has_usable_password()
        if self.uses_password:
            del self.fields["confirmation"]
            self.fields["password"].required = True
        else:
            del self.fields["password"]
            self.fields["confirmation"].required = True

    def clean(self) -> dict:
        data = super().clean()
        user = self.request.user
        if self.uses_password and data.get("password"):
            # Through authenticate(), so that django-axes counts wrong passwords here as everywhere else.
            if authenticate(self.request, username=user.email, password=data["password"]) is None:
                self.add_error("password", _("That is not your password."))
        elif not self.uses_password and data.get("confirmation", "").strip().lower() != ERASE_PHRASE:
            self.add_error("confirmation", _("Type the phrase exactly as shown to confirm."))
        return data


@no_store
@login_required
def account_export(request: HttpRequest) -> HttpResponse:
    """``Download my data``: a JSON file of everything held about the signed-in person (orgs.privacy.user_export)."""
    data = privacy.user_export(user=request.user)
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    filename = f"bizgaze-connect-{request.user.public_id}-{timezone.now():%Y%m%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """``Delete my account``: confirm, then erase (refused with what to do while they are a sole owner)."""
    blocking = privacy.organizations_needing_handover(request.user)
    form = AccountDeleteForm(request.POST or None, request=request)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                privacy.user_erase(user=request.user, actor=request.user)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                logout(request)
                messages.success(request, _("Your account and your personal data were deleted."))
                return redirect("account_login")
        else:
            status = 400
    response = render(request, "orgs/account_delete.html", {"form": form, "blocking": blocking}, status=status)
    return no_store_headers(response)


class OrganizationDeleteView(OrgScopedMixin, View):
    """The settings page's danger zone posts here: an owner types the slug and the organization is deleted."""

    required_scope = "org:read"

    def post(self, request: HttpRequest) -> HttpResponse:
        organization = self.org.organization
        if self.org.role != Role.OWNER:
            messages.error(request, _("Only an owner can delete the organization."))
            return redirect("org_settings", org_slug=organization.slug)
        if request.POST.get("confirm_slug", "").strip() != organization.slug:
            messages.error(
                request,
                _("Type the organization's slug, %(slug)s, exactly to confirm the deletion.")
                % {"slug": organization.slug},
            )
            return redirect("org_settings", org_slug=organization.slug)
        try:
            privacy.organization_delete(organization=organization, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("org_settings", org_slug=organization.slug)
        messages.success(
            request,
            _(
                "%(org)s was deleted. Its data will be purged for good in %(days)s days; "
                "until then support can restore it."
            )
            % {"org": organization.name, "days": privacy.purge_days()},
        )
        return redirect("home")
