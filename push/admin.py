from django.contrib import admin

from .models import PushMessage, PushRegistration


class ReadOnly(admin.ModelAdmin):
    """Rows written by push.services only: the admin shows them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PushRegistration)
class PushRegistrationAdmin(ReadOnly):
    list_display = ["public_id", "device", "provider", "platform", "app_version", "updated_at", "disabled_at"]
    list_filter = ["provider", "platform"]
    readonly_fields = [field.name for field in PushRegistration._meta.fields]


@admin.register(PushMessage)
class PushMessageAdmin(ReadOnly):
    """What became of each push (sent, dropped and why): to answer "why did my phone not ring?"."""

    list_display = ["public_id", "kind", "status", "attempts", "created_at", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    readonly_fields = [field.name for field in PushMessage._meta.fields]
