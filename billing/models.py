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
