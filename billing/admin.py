"""Licensing in the Django admin, for the people who run the service: plans are data; licences change through
billing.services (audited, naming the staff member), never by saving the row directly."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from orgs.admin import ServiceAdminMixin
from orgs.tenancy import CrossOrgAdminMixin

from . import entitlements, metering, services
from .models import License, Metric, Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "order",
        "is_public",
        "price_per_seat_month_cents",
        "included_seats",
        "max_seats",
        "sessions_per_seat",
        "stripe_price_id",
        "licence_count",
    ]
    list_editable = ["order", "is_public"]
    search_fields = ["name", "code", "stripe_price_id"]
    fieldsets = [
        (None, {"fields": ["code", "name", "order", "is_public"]}),
        (_("Price"), {"fields": ["price_per_seat_month_cents", "stripe_price_id", "stripe_price_id_yearly"]}),
        (_("Seats"), {"fields": ["included_seats", "max_seats"]}),
        (
            _("Limits (empty: unlimited)"),
            {
                "fields": [
                    "sessions_per_seat",
                    "max_session_minutes",
                    "unattended_machines",
                    "meeting_participants",
                    "concurrent_meetings",
                    "meeting_minutes_month",
                    "recording_storage_bytes",
                    "recording_retention_days",
                    "api_requests_per_minute",
                ]
            },
        ),
        (_("Features"), {"fields": ["features"]}),
    ]

    @admin.display(description=_("licences"))
    def licence_count(self, obj: Plan) -> int:
        return obj.licenses.unscoped("Django admin: how many organizations are on a plan").count()

    def has_delete_permission(self, request, obj: Plan | None = None) -> bool:
        # A plan with licences is protected by the database too; say it before the error page does.
        if obj is not None and self.licence_count(obj):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(License)
class LicenseAdmin(ServiceAdminMixin, CrossOrgAdminMixin, admin.ModelAdmin):
    list_display = [
        "organization",
        "plan",
        "seats_in_use",
        "status",
        "trial_ends_at",
        "sessions_this_month",
        "api_calls_this_month",
        "updated_at",
    ]
    list_filter = ["status", "plan"]
    search_fields = ["organization__name", "organization__slug", "stripe_customer_id", "stripe_subscription_id"]
    list_select_related = ["organization", "plan"]
    readonly_fields = ["organization", "past_due_since", "stripe_customer_id", "stripe_subscription_id", "updated_at"]
    fields = [
        "organization",
        "plan",
        "seats",
        "status",
        "trial_ends_at",
        "past_due_since",
        "overrides",
        "stripe_customer_id",
        "stripe_subscription_id",
        "updated_at",
    ]
    actions = ["extend_trial", "make_active", "make_read_only", "suspend"]
    list_per_page = 50

    def has_add_permission(self, request) -> bool:
        return False  # every organization gets its licence when it is created

    def has_delete_permission(self, request, obj: License | None = None) -> bool:
        return False  # a licence ends by a status (canceled, suspended), never by deleting what it records

    @admin.display(description=_("seats used / bought"))
    def seats_in_use(self, obj: License) -> str:
        return f"{entitlements.seats_used(obj.organization)} / {obj.seats}"

    def _month(self, obj: License) -> dict[str, int]:
        """This calendar month's usage (UTC), computed once per row."""
        cached = getattr(obj, "_month_usage", None)
        if cached is None:
            today = metering.today_utc()
            cached = obj._month_usage = metering.usage_totals(obj.organization, today.replace(day=1), today)
        return cached

    @admin.display(description=_("sessions this month"))
    def sessions_this_month(self, obj: License) -> int:
        return self._month(obj).get(Metric.SESSIONS, 0)

    @admin.display(description=_("API calls this month"))
    def api_calls_this_month(self, obj: License) -> int:
        return self._month(obj).get(Metric.API_CALLS, 0)

    def save_model(self, request, obj: License, form, change: bool) -> None:
        wanted = {name: getattr(obj, name) for name in form.changed_data}

        def work() -> None:
            services.license_change(organization=obj.organization, actor=request.user, **wanted)

        self.run_services(request, work)
        obj.refresh_from_db()

    def _each(self, request, queryset, label: str, change) -> None:
        """Run ``change(organization)`` (a billing service) for each selected licence; refusals are shown."""
        done = sum(
            1
            for license_ in queryset
            if self.run_services(request, lambda license_=license_: change(license_.organization))
        )
        self.message_user(request, _("%(label)s: %(count)d licences.") % {"label": label, "count": done})

    def _status(self, request, queryset, label: str, status: str) -> None:
        self._each(
            request,
            queryset,
            label,
            lambda organization: services.license_change(organization=organization, actor=request.user, status=status),
        )

    @admin.action(description=_("Extend the trial by 14 days"))
    def extend_trial(self, request, queryset) -> None:
        self._each(
            request,
            queryset,
            _("Trial extended"),
            lambda organization: services.license_extend_trial(organization=organization, days=14, actor=request.user),
        )

    @admin.action(description=_("Mark as active (paid, or reactivate a suspended one)"))
    def make_active(self, request, queryset) -> None:
        self._status(request, queryset, _("Active"), License.Status.ACTIVE)

    @admin.action(description=_("Make read-only (unpaid)"))
    def make_read_only(self, request, queryset) -> None:
        self._status(request, queryset, _("Read-only"), License.Status.READ_ONLY)

    @admin.action(description=_("Suspend"))
    def suspend(self, request, queryset) -> None:
        self._status(request, queryset, _("Suspended"), License.Status.SUSPENDED)
