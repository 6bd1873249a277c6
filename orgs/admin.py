"""Django admin for the people who run the service (staff only)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm

from connect.errors import ApplicationError

from . import privacy, services
from .devices import device_revoke
from .mfa import has_confirmed_device
from .models import Device, Invitation, Membership, Organization, User
from .tenancy import CrossOrgAdminMixin


class ServiceAdminMixin:
    """The admin changes rows through the same services as the product: they hold the rules (an organization keeps
    an owner) and write the audit log, naming the staff member. A refusal rolls the change back and is shown as the
    page's error instead of its "changed successfully"."""

    def run_services(self, request, work) -> bool:
        try:
            with transaction.atomic():
                work()
        except ApplicationError as exc:
            request._connect_refused = True
            self.message_user(request, exc.message, level=messages.ERROR)
            return False
        return True

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs) -> None:
        if getattr(request, "_connect_refused", False) and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kwargs)


def _stored_membership(membership: Membership) -> Membership:
    """The membership as stored: the admin's form has already put the new values on the instance it edits."""
    return Membership.objects.for_org(membership.organization).get(pk=membership.pk)


class MembershipInline(CrossOrgAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "status", "require_mfa", "public_id", "member_count", "created_at"]
    list_filter = ["status", "require_mfa"]
    search_fields = ["name", "slug", "public_id"]
    readonly_fields = ["public_id", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = ["restore"]

    @admin.action(description=_("Restore the selected deleted organizations (before their purge)"))
    def restore(self, request, queryset) -> None:
        restored = 0
        for organization in queryset.filter(status=Organization.Status.DELETED):
            privacy.organization_restore(organization=organization, actor=request.user)
            restored += 1
        self.message_user(request, _("%(count)d organizations restored.") % {"count": restored})

    @admin.display(description=_("members"))
    def member_count(self, obj: Organization) -> int:
        return obj.membership_set.count()

    def save_model(self, request, obj: Organization, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        stored = Organization.objects.get(pk=obj.pk)
        audited = (*services.ORGANIZATION_SETTINGS, *services.ORGANIZATION_OTHER_SETTINGS)
        settings_changes = {name: getattr(obj, name) for name in form.changed_data if name in audited}
        other = [name for name in form.changed_data if name not in audited and name != "status"]

        def work() -> None:
            if other:  # the slug and the deletion bookkeeping: no rule of their own
                for name in other:
                    setattr(stored, name, getattr(obj, name))
                stored.save(update_fields=other)
            services.organization_update_settings(
                organization=stored, actor=None, operator=request.user, **settings_changes
            )
            if "status" in form.changed_data:
                # Suspended or closed: its credentials and its members' sockets in it end (orgs.access).
                services.organization_set_status(organization=stored, status=obj.status, operator=request.user)

        self.run_services(request, work)
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        organization = form.instance
        formset.save(commit=False)

        def work() -> None:
            for membership in formset.deleted_objects:
                services.membership_remove(membership=_stored_membership(membership), actor=None, operator=request.user)
            for membership, changed in formset.changed_objects:
                if "user" in changed:
                    raise ApplicationError(
                        _("Remove the membership and add the other person instead of changing who it is for."),
                        code="membership_user_changed",
                    )
                services.membership_change_role(
                    membership=_stored_membership(membership), actor=None, role=membership.role, operator=request.user
                )
            for membership in formset.new_objects:
                services.membership_add(
                    organization=organization, user=membership.user, role=membership.role, operator=request.user
                )

        self.run_services(request, work)


@admin.register(Membership)
class MembershipAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # Another person or organization is another membership: remove this one and add that one.
        return ["user", "organization", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        if not change:

            def work() -> None:
                added = services.membership_add(
                    organization=obj.organization, user=obj.user, role=obj.role, operator=request.user
                )
                obj.pk = added.pk

        else:

            def work() -> None:
                services.membership_change_role(
                    membership=_stored_membership(obj), actor=None, role=obj.role, operator=request.user
                )

        self.run_services(request, work)

    def delete_model(self, request, obj: Membership) -> None:
        self.run_services(
            request, lambda: services.membership_remove(membership=obj, actor=None, operator=request.user)
        )

    def delete_queryset(self, request, queryset) -> None:
        def work() -> None:
            for membership in queryset.select_related("organization", "user"):
                services.membership_remove(membership=membership, actor=None, operator=request.user)

        self.run_services(request, work)


@admin.register(Invitation)
class InvitationAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = ["email", "organization", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email", "organization__name", "public_id"]
    list_select_related = ["organization", "invited_by"]
    # Who and what an invitation is for was checked against the inviter's role; it is withdrawn, not edited.
    readonly_fields = [
        "organization",
        "email",
        "role",
        "revoked_at",
        "public_id",
        "token_hash",
        "created_at",
        "accepted_at",
        "accepted_by",
        "invited_by",
    ]
    fields = ["expires_at", *readonly_fields]
    actions = ["revoke"]

    @admin.action(description=_("Withdraw the selected invitations"))
    def revoke(self, request, queryset) -> None:
        def work() -> None:
            for invitation in queryset.select_related("organization"):
                services.invitation_revoke(invitation=invitation, actor=None, operator=request.user)

        self.run_services(request, work)

    def has_add_permission(self, request) -> bool:
        # Invitations carry an e-mailed token; they are created from the organization's members page or API.
        return False


@admin.register(User)
class UserAdmin(ServiceAdminMixin, BaseUserAdmin):
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
    actions = ["erase"]

    @admin.action(description=_("Erase the selected users and their personal data (GDPR)"))
    def erase(self, request, queryset) -> None:
        for user in list(queryset):
            try:
                privacy.user_erase(user=user, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{user.email}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, _("%(id)s was erased.") % {"id": user.public_id})

    def get_actions(self, request):
        # A plain delete would skip the erasure's pseudonymization and its sole-owner check.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: User, form, change: bool) -> None:
        if not (change and "is_active" in form.changed_data):
            super().save_model(request, obj, form, change)
            return
        wanted, obj.is_active = obj.is_active, not obj.is_active  # the rest saves now, the service changes this

        def work() -> None:
            super(UserAdmin, self).save_model(request, obj, form, change)
            # A disabled account's open sockets close; each of the person's organizations records it.
            services.user_set_active(user=obj, is_active=wanted, operator=request.user)

        self.run_services(request, work)


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
