from django.contrib import admin

from .models import APIKey, OrganizationSSO


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
    fields = ["name", "expires_at", "revoked_at", *readonly_fields]

    def has_add_permission(self, request) -> bool:
        return False  # keys are created by organizations, which see the key once


@admin.register(OrganizationSSO)
class OrganizationSSOAdmin(admin.ModelAdmin):
    list_display = ["organization", "oidc_issuer", "require_sso", "default_role"]
    search_fields = ["organization__name", "organization__slug"]
    autocomplete_fields = ["organization"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if obj.oidc_enabled:  # keep the organization's allauth application in step
            from .sso import oidc_configure

            oidc_configure(
                organization=obj.organization,
                issuer=obj.oidc_issuer,
                client_id=obj.oidc_client_id,
                client_secret=obj.oidc_client_secret,
                email_domains=obj.email_domains,
                default_role=obj.default_role,
                require_sso=obj.require_sso,
            )
