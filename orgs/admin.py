"""Django admin for the people who run the service (staff only)."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm

from . import access
from .devices import device_revoke
from .mfa import has_confirmed_device
from .models import Device, Invitation, Membership, Organization, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "require_mfa", "public_id", "member_count", "created_at"]
    list_filter = ["status", "require_mfa"]
    search_fields = ["name", "slug", "public_id"]
    readonly_fields = ["public_id", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    @admin.display(description=_("members"))
    def member_count(self, obj: Organization) -> int:
        return obj.membership_set.count()

    def save_model(self, request, obj: Organization, form, change: bool) -> None:
        before = Organization.objects.filter(pk=obj.pk).values("status", "require_mfa").first() if change else None
        super().save_model(request, obj, form, change)
        if before is None:
            return
        if obj.require_mfa and not before["require_mfa"]:
            access.end_unsatisfying_credentials(organization=obj, requirement="mfa")
        if before["status"] == Organization.Status.ACTIVE and not obj.is_active:
            # Suspended or closed: its credentials and its members' sockets in it end (orgs.access).
            members = obj.membership_set.values_list("user_id", flat=True)
            access.announce([f"org:{obj.pk}", *(f"user:{pk}" for pk in members)])


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        access.announce([f"user:{obj.user_id}"])  # a changed role: open sockets re-check what it allows

    def delete_model(self, request, obj: Membership) -> None:
        super().delete_model(request, obj)
        access.announce([f"user:{obj.user_id}"])

    def delete_queryset(self, request, queryset) -> None:
        users = list(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        access.announce(f"user:{pk}" for pk in users)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email", "organization__name", "public_id"]
    list_select_related = ["organization", "invited_by"]
    readonly_fields = ["public_id", "token_hash", "created_at", "accepted_at", "accepted_by", "invited_by"]
    fields = ["organization", "email", "role", "expires_at", "revoked_at", *readonly_fields]

    def has_add_permission(self, request) -> bool:
        # Invitations carry an e-mailed token; they are created from the organization's members page or API.
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name", "public_id"]
    readonly_fields = ["public_id", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password", "public_id"]}),
        (_("Profile"), {"fields": ["name"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    def save_model(self, request, obj: User, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and not obj.is_active:
            access.announce([f"user:{obj.pk}"])  # a disabled account's open sockets close


class StaffAuthenticationForm(OTPAdminAuthenticationForm):
    """The admin's sign-in form: the code is required from staff who have an authenticator, and from all staff
    where ``CONNECT_ADMIN_REQUIRE_MFA`` is on (the default outside debug)."""

    def clean_otp(self, user) -> None:
        if user is None:
            return
        if has_confirmed_device(user):
            super().clean_otp(user)
        elif settings.CONNECT_ADMIN_REQUIRE_MFA:
            raise forms.ValidationError(
                _("The administration requires two-factor authentication: set it up at /account/security/ first."),
                code="mfa_required",
            )


admin.site.login_form = StaffAuthenticationForm
admin.site.login_template = "otp/admin111/login.html"


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "platform", "created_at", "last_seen_at", "revoked_at", "revoked_reason"]
    list_filter = ["platform"]
    search_fields = ["user__email", "public_id", "name"]
    list_select_related = ["user"]
    readonly_fields = ["public_id", "user", "created_at", "last_seen_at", "last_ip", "push_token"]
    actions = ["sign_out"]

    @admin.action(description=_("Sign the selected devices out"))
    def sign_out(self, request, queryset) -> None:
        for device in queryset.filter(revoked_at__isnull=True):
            device_revoke(device=device, reason="signed_out_by_staff")
