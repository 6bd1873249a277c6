"""A read-only view of the audit log for the people who run the service: nothing here can add, change or delete."""

from __future__ import annotations

from django.contrib import admin

from orgs.tenancy import CrossOrgAdminMixin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = ("seq", "organization", "created_at", "action", "actor_label", "target_type", "target_id", "ip")
    list_filter = ("action", "actor_kind", "organization")
    search_fields = ("action", "actor_id", "actor_label", "target_id", "target_label")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    ordering = ("organization", "-seq")
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
