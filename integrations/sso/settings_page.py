"""The single sign-on card of the organization settings page (a settings section registered with orgs.views)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connect.errors import ApplicationError
from orgs.models import Role
from orgs.views import OrganizationSettingsView, SettingsSection

from ..models import OrganizationSSO
from .services import oidc_configure_by_org_admin


class SSOForm(forms.Form):
    oidc_issuer = forms.URLField(
        label=gettext_lazy("Issuer URL"),
        max_length=200,
        assume_scheme="https",
        help_text=gettext_lazy("Its discovery document is at <issuer>/.well-known/openid-configuration."),
    )
    oidc_client_id = forms.CharField(label=gettext_lazy("Client id"), max_length=200)
    oidc_client_secret = forms.CharField(
        label=gettext_lazy("Client secret"),
        max_length=500,
        required=False,
        widget=forms.PasswordInput,
        help_text=gettext_lazy("Leave empty to keep the current secret."),
    )
    email_domains = forms.MultipleChoiceField(
        label=gettext_lazy("E-mail domains"), widget=forms.CheckboxSelectMultiple, choices=[]
    )
    default_role = forms.ChoiceField(
        label=gettext_lazy("Role of people signing in for the first time"),
        choices=[(Role.AGENT, Role.AGENT.label), (Role.MEMBER, Role.MEMBER.label)],
    )
    require_sso = forms.BooleanField(
        label=gettext_lazy("Require single sign-on (owners keep a password, audited)"), required=False
    )

    def __init__(self, *args, domains: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email_domains"].choices = [(d, d) for d in domains]


def _sso_form(view: OrganizationSettingsView, data: Any = None) -> SSOForm:
    config = OrganizationSSO.objects.filter(organization=view.org.organization).first()
    initial = {}
    if config:
        initial = {
            "oidc_issuer": config.oidc_issuer,
            "oidc_client_id": config.oidc_client_id,
            "email_domains": config.email_domains,
            "default_role": config.default_role,
            "require_sso": config.require_sso,
        }
    return SSOForm(data, initial=initial, domains=config.verified_domains if config else [])


def settings_context(view: OrganizationSettingsView) -> dict[str, Any]:
    """What the card shows on its own: the form, filled in with the current configuration."""
    return {"sso_form": _sso_form(view)}


def settings_save(view: OrganizationSettingsView, request: HttpRequest) -> HttpResponse:
    """The card's POST (``section=sso``): an admin points the organization's verified domains at its identity
    provider."""
    sso_form = _sso_form(view, request.POST)
    if not sso_form.is_valid():
        return view.page(status=400, sections={"sso": {"sso_form": sso_form}})
    try:
        data = sso_form.cleaned_data
        oidc_configure_by_org_admin(
            organization=view.org.organization,
            issuer=data["oidc_issuer"],
            client_id=data["oidc_client_id"],
            client_secret=data["oidc_client_secret"],
            email_domains=data["email_domains"],
            default_role=data["default_role"],
            require_sso=data["require_sso"],
            actor=request.user,
        )
    except ApplicationError as exc:
        sso_form.add_error(exc.details.get("field"), exc.message)
        return view.page(status=exc.status_code, sections={"sso": {"sso_form": sso_form}})
    messages.success(request, _("Single sign-on saved."))
    return redirect("org_settings", org_slug=view.org.organization.slug)


SETTINGS_SECTION = SettingsSection(
    template="integrations/settings_sso.html", context=settings_context, save=settings_save
)
