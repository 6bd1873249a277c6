"""Unattended machines: enrollment tokens, the machines a desktop agent enrolled, their groups and policies, and the
record of every connection to them.

A machine proves who it is with a key pair of its own (Ed25519): the server keeps only the public key, and the
machine signs a fresh challenge every time its socket opens (``machines.consumers``). Nothing the server stores would
let anyone impersonate a machine.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id
from orgs.tenancy import OrgOwnedModel, OrgScopedQuerySet


def _machine_id() -> str:
    return new_public_id("mch")


def _group_id() -> str:
    return new_public_id("mgr")


def _enrollment_id() -> str:
    return new_public_id("men")


def _connection_id() -> str:
    return new_public_id("mcn")


WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday is 0, as in Python's datetime


class MachineGroup(OrgOwnedModel):
    """Machines that share a policy: who may connect unattended, whether the person at the machine must consent,
    and the hours connections are allowed."""

    class Access(models.TextChoices):
        ADMINS = "admins", _("Owners and admins")
        AGENTS = "agents", _("Every agent")
        LISTED = "listed", _("Only the people listed")

    public_id = models.CharField(max_length=40, unique=True, default=_group_id, editable=False)
    name = models.CharField(_("name"), max_length=100)
    access = models.CharField(_("who may connect"), max_length=16, choices=Access.choices, default=Access.ADMINS)
    allowed_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    require_consent = models.BooleanField(
        _("the person at the machine must consent"),
        default=False,
        help_text=_("The agent asks on the machine's screen; nobody answering in time declines."),
    )
    # Allowed hours, in ``timezone``: both empty means at any hour; ``hours_end`` before ``hours_start`` spans midnight.
    hours_start = models.TimeField(_("allowed from"), null=True, blank=True)
    hours_end = models.TimeField(_("allowed until"), null=True, blank=True)
    weekdays = models.JSONField(_("allowed days"), default=list, blank=True)  # empty: every day
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="machine_group_name_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class EnrollmentToken(OrgOwnedModel):
    """What a desktop agent presents once to enroll its machine (``connect-agent enroll --token``). Only the token's
    hash is kept; it expires, may be used once or up to ``max_uses`` times (empty: until it expires), and can be
    revoked. Machines it enrolled join ``group`` with ``tags``."""

    public_id = models.CharField(max_length=40, unique=True, default=_enrollment_id, editable=False)
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    group = models.ForeignKey(MachineGroup, on_delete=models.PROTECT, related_name="enrollment_tokens")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    max_uses = models.PositiveIntegerField(_("uses allowed"), null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    def state(self, now) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used"
        return "active"


class Machine(OrgOwnedModel):
    """A computer a desktop agent enrolled. Removing it keeps the row (its connections stay in the record) and
    refuses its agent from then on."""

    public_id = models.CharField(max_length=40, unique=True, default=_machine_id, editable=False)
    name = models.CharField(_("name"), max_length=100)
    hostname = models.CharField(_("host name"), max_length=255)
    os = models.CharField(_("operating system"), max_length=32)
    os_version = models.CharField(_("OS version"), max_length=100, blank=True)

    OS_NAMES = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}

    @property
    def system(self) -> str:
        """What the machine runs, as people say it: "Debian GNU/Linux 12 (bookworm)", else "Linux"."""
        return self.os_version or self.OS_NAMES.get(self.os, self.os)

    agent_version = models.CharField(_("agent version"), max_length=32, blank=True)
    # The machine's own Ed25519 public key (32 bytes, base64url): it signs a challenge whenever its socket opens.
    public_key = models.CharField(max_length=64, unique=True)
    group = models.ForeignKey(MachineGroup, on_delete=models.PROTECT, related_name="machines")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    enrolled_with = models.ForeignKey(
        EnrollmentToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="machines"
    )
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "removed_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class MachineConnection(OrgOwnedModel):
    """One attempt to reach a machine unattended: who, when, and what came of it (the session it opened, or why it
    was refused). The audit log holds the same facts in its chain."""

    class Outcome(models.TextChoices):
        OPENED = "opened", _("Opened")
        REFUSED = "refused", _("Refused")

    public_id = models.CharField(max_length=40, unique=True, default=_connection_id, editable=False)
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    user_label = models.CharField(max_length=150, blank=True)
    session_public_id = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=40, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.outcome} connection to {self.machine_id}"
