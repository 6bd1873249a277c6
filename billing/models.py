"""Plans (data, edited in the Django admin) and each organization's licence: plan, seats, status, trial, overrides.

A limit of ``None`` means unlimited. What a plan allows is read only through :mod:`billing.entitlements`.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from orgs.tenancy import OrgOwnedModel

# Feature flags a plan may grant; the entitlement checks name them.
FEATURES: dict[str, str] = {
    "sso": _("Single sign-on"),
    "scim": _("SCIM provisioning"),
    "api": _("API keys and OAuth apps"),
    "webhooks": _("Webhooks"),
    "recording": _("Recording"),
    "unattended": _("Unattended machines"),
    "meetings": _("Meetings"),
    "widget": _("Embeddable widget"),
    "branding": _("Custom branding"),
    "audit_export": _("Audit log export"),
}

# Numeric limits: the plan's field, overridable per organization by the same key in ``License.overrides``.
LIMITS: dict[str, str] = {
    "max_seats": _("seats"),
    "sessions_per_seat": _("concurrent live sessions per seat"),
    "max_session_minutes": _("minutes per session"),
    "unattended_machines": _("unattended machines"),
    "meeting_participants": _("meeting participants"),
    "concurrent_meetings": _("concurrent meetings"),
    "meeting_minutes_month": _("meeting minutes per month"),
    "recording_storage_bytes": _("recording storage (bytes)"),
    "recording_retention_days": _("recording retention (days)"),
    "api_requests_per_minute": _("API requests per minute"),
}


def _limit(verbose: str) -> models.PositiveBigIntegerField:
    return models.PositiveBigIntegerField(verbose, null=True, blank=True, help_text=_("Empty: unlimited."))


class Plan(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    order = models.PositiveSmallIntegerField(_("order"), default=0, help_text=_("Cheapest first."))
    is_public = models.BooleanField(_("offered on the upgrade page"), default=True)
    price_per_seat_month_cents = models.PositiveIntegerField(_("price per seat and month (cents)"), default=0)
    included_seats = models.PositiveIntegerField(
        _("seats when the plan starts"), default=1, help_text=_("Seats a new or trial organization gets on this plan.")
    )
    max_seats = _limit(_("seats at most"))
    sessions_per_seat = _limit(_("concurrent live sessions per seat"))
    max_session_minutes = _limit(_("minutes per session"))
    unattended_machines = _limit(_("unattended machines"))
    meeting_participants = _limit(_("meeting participants"))
    concurrent_meetings = _limit(_("concurrent meetings"))
    meeting_minutes_month = _limit(_("meeting minutes per month"))
    recording_storage_bytes = _limit(_("recording storage (bytes)"))
    recording_retention_days = _limit(_("recording retention (days)"))
    api_requests_per_minute = _limit(_("API requests per minute"))
    features = models.JSONField(_("features"), default=list, blank=True)
    stripe_price_id = models.CharField(_("Stripe price id (monthly, per seat)"), max_length=100, blank=True)
    stripe_price_id_yearly = models.CharField(_("Stripe price id (yearly, per seat)"), max_length=100, blank=True)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self) -> str:
        return self.name


class License(OrgOwnedModel):
    """What one organization has bought (or is trying): one row per organization."""

    class Status(models.TextChoices):
        TRIALING = "trialing", _("Trial")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Payment overdue")
        READ_ONLY = "read_only", _("Read-only (unpaid)")
        CANCELED = "canceled", _("Canceled")
        SUSPENDED = "suspended", _("Suspended")

    organization = models.OneToOneField("orgs.Organization", on_delete=models.CASCADE, related_name="license")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="licenses")
    seats = models.PositiveIntegerField(_("seats"), default=1)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.TRIALING)
    trial_ends_at = models.DateTimeField(_("trial ends"), null=True, blank=True)
    past_due_since = models.DateTimeField(_("payment overdue since"), null=True, blank=True)
    overrides = models.JSONField(
        _("overrides"),
        default=dict,
        blank=True,
        help_text=_(
            "A negotiated deal: a limit's key with a number (or null for unlimited), "
            '"features_add" / "features_remove" with lists of features.'
        ),
    )
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("licence")
        verbose_name_plural = _("licences")

    def __str__(self) -> str:
        return f"{self.plan} x{self.seats} ({self.get_status_display()})"


# --- Usage metering (billing.metering writes these; the Usage page and GET /api/v1/usage read DailyUsage) ---------


class Metric(models.TextChoices):
    """What is metered. Days are UTC days, the same for every viewer, as on an invoice."""

    SESSIONS = "sessions", _("Support sessions")
    SESSION_MINUTES = "session_minutes", _("Support-session minutes")
    MEETING_MINUTES = "meeting_minutes", _("Meeting participant-minutes")
    RECORDING_BYTES = "recording_bytes", _("Recording storage (bytes added, or removed when negative)")
    API_CALLS = "api_calls", _("API calls (API keys and OAuth apps)")


class UsageRecord(OrgOwnedModel):
    """One measured fact, raw. ``source_key`` names what it measured (``session:<public id>``,
    ``api:<organization public id>:<YYYYmmddHHMM>``): the same fact recorded again (a retried task, a replayed event)
    meets the unique constraint and is counted once."""

    metric = models.CharField(_("metric"), max_length=32, choices=Metric.choices)
    # Signed: recordings deleted give storage back.
    quantity = models.BigIntegerField(_("quantity"))
    occurred_at = models.DateTimeField(_("occurred at"))
    source_key = models.CharField(_("source"), max_length=200)
    # A snapshot of the agent it is attributed to (sessions): the record outlives the person.
    agent_id = models.CharField(_("agent id"), max_length=40, blank=True)
    agent_name = models.CharField(_("agent"), max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        constraints = [
            models.UniqueConstraint(fields=["organization", "metric", "source_key"], name="billing_usage_counted_once")
        ]
        indexes = [
            models.Index(fields=["organization", "occurred_at"], name="billing_usage_org_time"),
            models.Index(fields=["created_at"], name="billing_usage_created"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.quantity} ({self.source_key})"


class DailyUsage(OrgOwnedModel):
    """One organization's total of one metric on one UTC day, recomputed from the raw records as a whole."""

    date = models.DateField(_("date"))
    metric = models.CharField(_("metric"), max_length=32, choices=Metric.choices)
    quantity = models.BigIntegerField(_("quantity"), default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        ordering = ["date", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "date", "metric"], name="billing_daily_usage_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.metric} {self.quantity}"
