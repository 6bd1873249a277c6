"""Licence sweeps run by Celery beat: dunning (an overdue payment past its grace period makes the organization
read-only), trials that end without a plan (the organization falls to Free), and a reminder to owners a few days
before a trial ends.

Each change re-checks the licence under its row lock, so a payment that lands while the sweep runs wins, and running a
sweep twice (or late) changes nothing more. Changes go through :func:`billing.services.license_change`: audited, with
no actor (the system). Nothing is deleted: a read-only or Free organization keeps every record, limits only stop new
things.
"""

from __future__ import annotations

import math
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.models import AuditEntry
from audit.services import audit_record
from connect.links import absolute_url
from orgs.models import Membership, Organization, Role

from . import services
from .models import License

TRIAL_REMINDER_DAYS = 3


def _organizations(reason: str, **filters: object) -> list[Organization]:
    ids = list(License.objects.unscoped(reason).filter(**filters).values_list("organization_id", flat=True))
    return list(Organization.objects.filter(pk__in=ids).order_by("pk"))


@shared_task(name="billing.dunning")
def dunning() -> int:
    """Past due for longer than CONNECT_PAST_DUE_GRACE_DAYS: read-only. Returns how many organizations changed."""
    cutoff = timezone.now() - timedelta(days=settings.CONNECT_PAST_DUE_GRACE_DAYS)
    changed = 0
    for organization in _organizations(
        "beat sweep: every organization whose payment is overdue",
        status=License.Status.PAST_DUE,
        past_due_since__lte=cutoff,
    ):
        with transaction.atomic():
            license_ = License.objects.for_org(organization).select_for_update().get()
            if license_.status != License.Status.PAST_DUE or not license_.past_due_since:
                continue  # paid (or changed by an operator) since the sweep looked
            if license_.past_due_since > cutoff:
                continue
            services.license_change(organization=organization, status=License.Status.READ_ONLY)
            changed += 1
    return changed


@shared_task(name="billing.end_trials")
def end_trials() -> int:
    """A trial past its end without a plan bought: the Free plan, active (its limits stop new things beyond Free;
    everyone and everything stays). Trials run by a Stripe subscription end on Stripe's word instead."""
    now = timezone.now()
    changed = 0
    for organization in _organizations(
        "beat sweep: every organization whose trial has ended",
        status=License.Status.TRIALING,
        trial_ends_at__lte=now,
        stripe_subscription_id="",
    ):
        with transaction.atomic():
            license_ = License.objects.for_org(organization).select_for_update().get()
            if license_.status != License.Status.TRIALING or license_.stripe_subscription_id:
                continue
            if license_.trial_ends_at is None or license_.trial_ends_at > now:
                continue  # extended since the sweep looked
            services.license_fall_to_free(organization=organization)
            changed += 1
    return changed


@shared_task(name="billing.trial_reminders")
def trial_reminders() -> int:
    """E-mail the owners of each organization whose trial ends within TRIAL_REMINDER_DAYS, once per trial end (an
    extended trial is reminded again). The audit log records each reminder, and is what makes it once."""
    now = timezone.now()
    sent = 0
    for organization in _organizations(
        "beat sweep: every organization whose trial ends soon",
        status=License.Status.TRIALING,
        trial_ends_at__gt=now,
        trial_ends_at__lte=now + timedelta(days=TRIAL_REMINDER_DAYS),
        stripe_subscription_id="",
    ):
        with transaction.atomic():
            license_ = License.objects.for_org(organization).select_for_update().get()
            if license_.status != License.Status.TRIALING or license_.trial_ends_at is None:
                continue
            ends = license_.trial_ends_at.isoformat()
            if AuditEntry.objects.for_org(organization).filter(
                action="license.trial_reminder", data__trial_ends_at=ends
            ):
                continue
            owners = list(
                Membership.objects.for_org(organization)
                .filter(role=Role.OWNER, user__is_active=True)
                .values_list("user__email", flat=True)
            )
            if not owners:
                continue
            audit_record(
                organization=organization,
                action="license.trial_reminder",
                data={"trial_ends_at": ends, "to": len(owners)},
            )
            subject, body = _reminder(organization, license_)
            transaction.on_commit(lambda s=subject, b=body, to=owners: send_mail(s, b, None, to))
            sent += 1
    return sent


def _reminder(organization: Organization, license_: License) -> tuple[str, str]:
    link = absolute_url("org_billing", organization.slug)
    days = max(1, math.ceil((license_.trial_ends_at - timezone.now()).total_seconds() / 86400))
    subject = ngettext(
        "Your %(plan)s trial of BizGaze Connect ends in %(days)s day",
        "Your %(plan)s trial of BizGaze Connect ends in %(days)s days",
        days,
    ) % {"plan": license_.plan.name, "days": days}
    body = _(
        "The %(plan)s trial of %(org)s ends on %(ends)s UTC.\n\n"
        "Choose a plan to keep its features: %(link)s\n\n"
        "Without a plan, %(org)s moves to the Free plan. Nothing is deleted: your sessions, recordings and members "
        "stay; only what Free does not include stops working."
    ) % {
        "plan": license_.plan.name,
        "org": organization.name,
        "ends": license_.trial_ends_at.strftime("%Y-%m-%d %H:%M"),
        "link": link,
    }
    return subject, body
