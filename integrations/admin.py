from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from connect import outbound
from connect.errors import ApplicationError

from .models import APIKey, OrganizationSSO
from .services import api_key_revoke
from .sso import oidc_configure


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
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
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)


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
        if issuer:
            try:
                outbound.check_public_url(issuer.rstrip("/"))
            except outbound.OutboundError as exc:
                self.add_error("oidc_issuer", _("The issuer URL cannot be used: %(reason)s") % {"reason": exc})
        return data


@admin.register(OrganizationSSO)
class OrganizationSSOAdmin(admin.ModelAdmin):
    form = OrganizationSSOForm
    list_display = ["organization", "oidc_issuer", "require_sso", "default_role"]
    search_fields = ["organization__name", "organization__slug"]
    autocomplete_fields = ["organization"]

    def save_model(self, request, obj, form, change) -> None:
        if not obj.oidc_enabled:
            super().save_model(request, obj, form, change)
            return
        # The service writes the OpenID Connect part (the allauth application, when the requirement started, the
        # credentials it ends): the row keeps its previous requirement until then, so the service sees the change.
        wanted = obj.require_sso
        obj.require_sso = bool(
            change and OrganizationSSO.objects.filter(pk=obj.pk).values_list("require_sso", flat=True).first()
        )
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            try:
                oidc_configure(
                    organization=obj.organization,
                    issuer=obj.oidc_issuer,
                    client_id=obj.oidc_client_id,
                    client_secret=obj.oidc_client_secret,
                    email_domains=obj.email_domains,
                    default_role=obj.default_role,
                    require_sso=wanted,
                )
            except ApplicationError as exc:
                transaction.set_rollback(True)
                self.message_user(request, exc.message, level=messages.ERROR)
                return
        obj.refresh_from_db()
