from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from connect import outbound
from orgs.admin import ServiceAdminMixin
from orgs.tenancy import CrossOrgAdminMixin

from .credentials.services import api_key_revoke, oauth_application_delete
from .models import APIKey, OrganizationSSO
from .sso.services import oidc_configure, sso_oidc_clear, sso_operator_configure


@admin.register(APIKey)
class APIKeyAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "prefix", "state", "created_by", "created_at", "last_used_at"]
    search_fields = ["name", "prefix", "organization__name", "public_id"]
    list_select_related = ["organization", "created_by"]
    readonly_fields = [
        "public_id",
        "prefix",
        "key_hash",
        "scopes",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
    ]
    readonly_fields.append("revoked_at")  # revoked through the service, so the sockets the key opened close
    fields = ["name", "expires_at", *readonly_fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are created by organizations, which see the key once

    @admin.action(description=_("Revoke the selected API keys"))
    def revoke(self, request, queryset) -> None:
        def work() -> None:
            for key in queryset.filter(revoked_at__isnull=True).select_related("organization"):
                api_key_revoke(key=key, operator=request.user)

        self.run_services(request, work)


class OrganizationSSOForm(forms.ModelForm):
    class Meta:
        model = OrganizationSSO
        fields = [
            "organization",
            "bizgaze_secret",
            "default_role",
            "oidc_issuer",
            "oidc_client_id",
            "oidc_client_secret",
            "email_domains",
            "verified_domains",
            "require_sso",
        ]

    def clean(self):
        data = super().clean()
        issuer = (data.get("oidc_issuer") or "").strip()
        if bool(issuer) != bool((data.get("oidc_client_id") or "").strip()):
            self.add_error(
                "oidc_client_id", _("Give both the issuer and the client id, or neither (no OpenID Connect).")
            )
        if issuer:
            try:
                outbound.check_public_url(issuer.rstrip("/"))
            except outbound.OutboundError as exc:
                self.add_error("oidc_issuer", _("The issuer URL cannot be used: %(reason)s") % {"reason": exc})
        return data


@admin.register(OrganizationSSO)
class OrganizationSSOAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    form = OrganizationSSOForm
    list_display = ["organization", "oidc_issuer", "require_sso", "default_role"]
    search_fields = ["organization__name", "organization__slug"]
    autocomplete_fields = ["organization"]

    def save_model(self, request, obj, form, change) -> None:
        # The services write every part (the BizGaze secret, the allauth application, when the requirement started,
        # the credentials it ends) and the audit log; the row is saved through them only.
        def work() -> None:
            config = OrganizationSSO.objects.unscoped(self.admin_reason).filter(pk=obj.pk).first() if change else None
            if config is None:
                config = OrganizationSSO.objects.unscoped(self.admin_reason).create(organization=obj.organization)
            sso_operator_configure(
                config=config,
                operator=request.user,
                bizgaze_secret=obj.bizgaze_secret,
                default_role=obj.default_role,
                verified_domains=obj.verified_domains or [],
            )
            if obj.oidc_enabled:
                oidc_configure(
                    organization=obj.organization,
                    issuer=obj.oidc_issuer,
                    client_id=obj.oidc_client_id,
                    client_secret=obj.oidc_client_secret,
                    email_domains=obj.email_domains,
                    default_role=obj.default_role,
                    require_sso=obj.require_sso,
                    actor=request.user,
                )
            else:
                sso_oidc_clear(config=config, operator=request.user)
            obj.pk = config.pk

        self.run_services(request, work)


class _ApplicationDeletion:
    """Deleting an OAuth2 application from the admin goes through the service: its tokens end, the log records it."""

    def delete_model(self, request, obj) -> None:
        self.run_services(request, lambda: oauth_application_delete(application=obj, operator=request.user))

    def delete_queryset(self, request, queryset) -> None:
        def work() -> None:
            for application in queryset.select_related("organization"):
                oauth_application_delete(application=application, operator=request.user)

        self.run_services(request, work)


# The toolkit registers its own admins: applications are org-owned, and its token admins list and filter by them.
for _model in (
    get_application_model(),
    get_access_token_model(),
    get_refresh_token_model(),
    get_grant_model(),
    get_id_token_model(),
):
    if admin.site.is_registered(_model):
        _toolkit_admin = type(admin.site.get_model_admin(_model))
        admin.site.unregister(_model)
        bases = (CrossOrgAdminMixin, _toolkit_admin)
        if _model is get_application_model():
            bases = (_ApplicationDeletion, ServiceAdminMixin, *bases)
        admin.site.register(_model, type(_toolkit_admin.__name__, bases, {}))
