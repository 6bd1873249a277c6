"""The Plan and billing page: the organization's plan, seats and status, and the way to change them.

Owners and admins see it (``usage:read``) and change it (``billing:write``). Every change goes through
:mod:`billing.payments`: offline billing (no Stripe key, the embedded default) applies it at once; with Stripe the
plan goes through Checkout and the licence changes when Stripe's webhook says it is paid.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from connect.errors import ApplicationError
from orgs.views import OrgScopedMixin

from . import entitlements
from .models import FEATURES, License, Plan

# The limits a plan card shows, in this order.
CARD_LIMITS = [
    "sessions_per_seat",
    "max_session_minutes",
    "unattended_machines",
    "meeting_participants",
    "recording_storage_bytes",
    "api_requests_per_minute",
]


def limit_text(key: str, value: int | None) -> str:
    """A limit as a person reads it: "Unlimited", "5 GB", "4 hours"."""
    if value is None:
        return _("Unlimited")
    if key == "recording_storage_bytes":
        return filesizeformat(value) if value else _("None")
    if key == "max_session_minutes" and value >= 60 and value % 60 == 0:
        return ngettext("%(n)s hour", "%(n)s hours", value // 60) % {"n": value // 60}
    if key in ("max_session_minutes", "meeting_minutes_month"):
        return ngettext("%(n)s minute", "%(n)s minutes", value) % {"n": value}
    if key == "recording_retention_days":
        return ngettext("%(n)s day", "%(n)s days", value) % {"n": value}
    if value == 0 and key in ("unattended_machines", "api_requests_per_minute"):
        return _("None")
    return f"{value:,}"


LIMIT_LABELS = {
    "sessions_per_seat": _("Live sessions per seat"),
    "max_session_minutes": _("Session length"),
    "unattended_machines": _("Unattended machines"),
    "meeting_participants": _("Meeting participants"),
    "concurrent_meetings": _("Meetings at once"),
    "meeting_minutes_month": _("Meeting minutes a month"),
    "recording_storage_bytes": _("Recording storage"),
    "recording_retention_days": _("Recordings kept"),
    "api_requests_per_minute": _("API requests a minute"),
}


def _price(plan: Plan) -> str:
    if not plan.price_per_seat_month_cents:
        return _("$0, for good") if plan.code == "free" else _("Priced for you")
    amount = plan.price_per_seat_month_cents / 100
    return _("$%(amount)s per seat a month") % {"amount": f"{amount:,.0f}" if amount.is_integer() else f"{amount:,.2f}"}


def _seats_for(plan: Plan, seats_in_use: int) -> int:
    """Seats to buy when switching to ``plan``: enough for everyone, at least what the plan includes."""
    wanted = max(seats_in_use, plan.included_seats, 1)
    return min(wanted, plan.max_seats) if plan.max_seats is not None else wanted


def _status_text(license_: License, ents: entitlements.Entitlements) -> str:
    now = timezone.now()
    if license_.status == License.Status.TRIALING and license_.trial_ends_at:
        days = max(0, (license_.trial_ends_at - now + timedelta(hours=23)).days)
        return ngettext(
            "Trial of %(plan)s: %(days)s day left. Choose a plan to keep its features; otherwise the organization "
            "moves to the Free plan when the trial ends, and nothing is deleted.",
            "Trial of %(plan)s: %(days)s days left. Choose a plan to keep its features; otherwise the organization "
            "moves to the Free plan when the trial ends, and nothing is deleted.",
            days,
        ) % {"plan": ents.plan_name, "days": days}
    if license_.status == License.Status.PAST_DUE:
        grace = timedelta(days=settings.CONNECT_PAST_DUE_GRACE_DAYS)
        until = (license_.past_due_since or now) + grace
        return _(
            "The last payment failed. Update the payment method by %(date)s, or the organization becomes read-only "
            "(everything stays readable; nothing new can be started)."
        ) % {"date": until.strftime("%Y-%m-%d")}
    if license_.status == License.Status.READ_ONLY:
        return _(
            "Read-only: the plan is unpaid. Sessions, logs and recordings stay available; new sessions, invitations "
            "and meetings wait until it is paid."
        )
    if license_.status == License.Status.CANCELED:
        return _("The subscription was canceled. Choose a plan to start again; nothing was deleted.")
    if license_.status == License.Status.SUSPENDED:
        return _("Suspended by BizGaze Connect support. Contact support to restore it.")
    return _("Active.")


class BillingView(OrgScopedMixin, View):
    required_scope = "usage:read"

    def _page(self, status: int = 200, error: ApplicationError | None = None) -> HttpResponse:
        from . import payments

        organization = self.org.organization
        license_ = entitlements.license_for(organization)
        ents = entitlements.entitlements_for(organization)
        used = entitlements.seats_used(organization)
        invited = entitlements.open_seat_invitations(organization)
        plans = list(Plan.objects.filter(is_public=True).order_by("order")) or [license_.plan]
        if license_.plan not in plans:
            plans.append(license_.plan)
        cards = []
        for plan in plans:
            cards.append(
                {
                    "plan": plan,
                    "current": plan.pk == license_.plan_id,
                    "price": _price(plan),
                    "seats": _seats_for(plan, used),
                    "seats_text": (
                        ngettext("%(n)s seat", "Up to %(n)s seats", plan.max_seats) % {"n": plan.max_seats}
                        if plan.max_seats is not None
                        else _("As many seats as you need")
                    ),
                    "limits": [(LIMIT_LABELS[key], limit_text(key, getattr(plan, key))) for key in CARD_LIMITS],
                    "features": [(label, code in plan.features) for code, label in FEATURES.items()],
                    "too_small": plan.max_seats is not None and used > plan.max_seats,
                }
            )
        live_allowed = ents.limit("sessions_per_seat")
        context: dict[str, Any] = {
            "license": license_,
            "ents": ents,
            "status_text": _status_text(license_, ents),
            "seats_used": used,
            "seats_invited": invited,
            "seats_free": max(0, ents.seats - used - invited),
            "seats_taken": min(used + invited, ents.seats),
            "seat_ceiling": ents.limit("max_seats"),
            "live_allowed": None if live_allowed is None else live_allowed * ents.seats,
            "your_limits": [(LIMIT_LABELS[key], limit_text(key, ents.limit(key))) for key in LIMIT_LABELS],
            "your_features": [label for code, label in FEATURES.items() if ents.has(code)],
            "cards": cards,
            "can_change": self.has_scope("billing:write"),
            "online": payments.billing_online(),
            "error": error,
        }
        return self.render("billing/billing.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page()

    def post(self, request: HttpRequest) -> HttpResponse:
        from . import payments

        if not self.has_scope("billing:write"):
            raise PermissionDenied(_("Only owners and admins change the plan."))
        organization = self.org.organization
        here = request.build_absolute_uri(reverse("org_billing", kwargs={"org_slug": organization.slug}))
        action = request.POST.get("action")
        try:
            if action not in ("plan", "seats", "portal"):
                raise ApplicationError(_("Nothing to do: choose a plan or a number of seats."), code="invalid_action")
            seats = _parse_seats(request.POST.get("seats")) if action != "portal" else 0
            if action == "plan":
                plan = Plan.objects.filter(code=request.POST.get("plan", ""), is_public=True).first()
                if plan is None:
                    raise ApplicationError(_("Choose one of the plans shown."), code="invalid_plan")
                checkout = payments.start_checkout(
                    organization=organization,
                    plan=plan,
                    seats=seats,
                    actor=request.user,
                    success_url=here + "?checkout=done",
                    cancel_url=here,
                )
                if checkout:
                    return redirect(checkout)
                messages.success(
                    request,
                    ngettext(
                        "%(org)s is on the %(plan)s plan with %(n)s seat.",
                        "%(org)s is on the %(plan)s plan with %(n)s seats.",
                        seats,
                    )
                    % {"org": organization.name, "plan": plan.name, "n": seats},
                )
            elif action == "seats":
                payments.change_seats(organization=organization, seats=seats, actor=request.user)
                messages.success(request, ngettext("%(n)s seat.", "%(n)s seats.", seats) % {"n": seats})
            else:
                portal = payments.portal_url(organization=organization, return_url=here)
                if portal:
                    return redirect(portal)
                raise ApplicationError(_("Billing is offline here: there is no payment method to manage."))
        except ApplicationError as exc:
            return self._page(status=exc.status_code, error=exc)
        return redirect("org_billing", org_slug=organization.slug)


def _parse_seats(raw: str | None) -> int:
    try:
        seats = int((raw or "").strip())
    except ValueError:
        raise ApplicationError(
            _("Seats is a whole number."), code="invalid_seats", details={"field": "seats"}
        ) from None
    if not 1 <= seats <= 100_000:
        raise ApplicationError(_("Seats is between 1 and 100,000."), code="invalid_seats", details={"field": "seats"})
    return seats
