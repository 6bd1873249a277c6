"""Push registrations (one per signed-in app installation), each person's push preferences, and the outbox of
push messages that the Celery task ``push.deliver`` sends.

None of these rows belongs to an organization: a registration and a preference are a person's, whatever
organizations they work in, and a message names the organization only by its name in the text it shows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id
from orgs.models import Device


def _registration_id() -> str:
    return new_public_id("psr")


def _message_id() -> str:
    return new_public_id("psm")


class Kind(models.TextChoices):
    SESSION_REQUEST = "session_request", _("Incoming support session")
    CUSTOMER_WAITING = "customer_waiting", _("A customer is waiting")
    TRANSFER = "transfer", _("A session was handed to you")
    MEETING_INVITATION = "meeting_invitation", _("Meeting invitation")


class Priority(models.TextChoices):
    HIGH = "high", _("High")  # wakes the phone now (APNs 10, FCM high); quiet hours do not hold it back
    NORMAL = "normal", _("Normal")


class PushRegistration(models.Model):
    """Where to reach one app installation: its provider and token. Disabled (not deleted) when the app unregisters
    or the provider says the token is gone, so the reason stays visible; registering again enables it."""

    class Provider(models.TextChoices):
        APNS = "apns", "Apple Push Notification service"
        FCM = "fcm", "Firebase Cloud Messaging"

    public_id = models.CharField(max_length=40, unique=True, default=_registration_id, editable=False)
    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="push_registration")
    provider = models.CharField(max_length=8, choices=Provider.choices)
    token = models.CharField(max_length=4096)
    platform = models.CharField(max_length=16, choices=Device.Platform.choices)
    app_version = models.CharField(max_length=40, blank=True)
    locale = models.CharField(max_length=35, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One phone, one token: registering it for another device (a reinstall, another person signing in on
            # the same phone) moves it there.
            models.UniqueConstraint(fields=["provider", "token"], name="push_registration_unique_token"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} registration of {self.device_id}"

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class PushPreference(models.Model):
    """What a person wants pushed. Quiet hours (local time in ``timezone``, possibly spanning midnight) hold back
    normal-priority kinds only: a customer waiting still reaches the agent."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_preference")
    session_request = models.BooleanField(default=True)
    customer_waiting = models.BooleanField(default=True)
    transfer = models.BooleanField(default=True)
    meeting_invitation = models.BooleanField(default=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"push preferences of {self.user_id}"

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, kind))


class PushMessage(models.Model):
    """The outbox: one message to one registration. Claimed with a conditional UPDATE before it is sent, so two
    workers never send it both, and never sent again once ``sent``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        DROPPED = "dropped", _("Dropped")

    public_id = models.CharField(max_length=40, unique=True, default=_message_id, editable=False)
    registration = models.ForeignKey(PushRegistration, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # What the lock screen shows and what the app needs to fetch the rest: title, body, data (strings only).
    payload = models.JSONField(default=dict)
    collapse_key = models.CharField(max_length=64, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} push {self.public_id} ({self.status})"
