"""Users, organizations (the tenant), memberships with roles, and invitations."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id

from .tenancy import OrgGuardedModel, OrgOwnedModel, OrgScopedQuerySet


def _org_id() -> str:
    return new_public_id("org")


def _user_id() -> str:
    return new_public_id("usr")


def _invitation_id() -> str:
    return new_public_id("inv")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The e-mail address is the login; it is stored lower-cased and unique."""

    public_id = models.CharField(max_length=40, unique=True, default=_user_id, editable=False)
    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Operators of the service: may use the Django admin.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Organization(models.Model):
    """The tenant: it buys a plan and seats, and every org-owned row points at it."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")
        # An owner deleted it: inaccessible at once, every row purged once ``purge_after`` passes.
        DELETED = "deleted", _("Deleted (purge pending)")

    public_id = models.CharField(max_length=40, unique=True, default=_org_id, editable=False)
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    require_mfa = models.BooleanField(
        _("require two-factor authentication"),
        default=False,
        help_text=_("Members without an authenticator are sent to enrolment before anything else."),
    )
    agents_see_all_sessions = models.BooleanField(
        _("agents can see all sessions"),
        default=False,
        help_text=_("Off: an agent sees only the sessions they ran; owners and admins see every session."),
    )
    # Retention in days (empty: kept until the organization is deleted); a beat task purges what is older.
    session_log_retention_days = models.PositiveIntegerField(_("keep session logs (days)"), null=True, blank=True)
    chat_retention_days = models.PositiveIntegerField(_("keep chat (days)"), null=True, blank=True)
    audit_retention_days = models.PositiveIntegerField(_("keep audit entries (days)"), null=True, blank=True)
    # Files sent inside a session (agent and customer, over the data channel); empty: CONNECT_FILE_TRANSFER_MAX_BYTES.
    file_transfer_max_bytes = models.PositiveBigIntegerField(
        _("largest file in a session (bytes)"), null=True, blank=True
    )

    class RecordingPolicy(models.TextChoices):
        OFF = "off", _("Off: sessions are never recorded")
        OPTIONAL = "optional", _("Optional: the agent may record a session")
        MANDATORY = "mandatory", _("Mandatory: every session is recorded")

    # Said to the customer before they consent (recordings); "off" until an admin decides otherwise.
    recording_policy = models.CharField(
        _("recording of support sessions"),
        max_length=16,
        choices=RecordingPolicy.choices,
        default=RecordingPolicy.OFF,
        db_default=RecordingPolicy.OFF,  # rows written by older code (an old migration's models) get it too
    )
    deletion_requested_at = models.DateTimeField(_("deletion requested"), null=True, blank=True)
    purge_after = models.DateTimeField(_("purge after"), null=True, blank=True)
    # Plan, seats and feature flags arrive with the licensing work.

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Role(models.TextChoices):
    """Ordered from most to least powerful; see ``orgs.roles`` for what each grants."""

    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")
    MEMBER = "member", _("Member")


class Membership(OrgOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_org")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Invitation(OrgOwnedModel):
    """An e-mailed, expiring, single-use offer to join an organization with a role.

    Only a hash of the token is stored; the link in the e-mail is the only copy of the token.
    """

    public_id = models.CharField(max_length=40, unique=True, default=_invitation_id, editable=False)
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address and organization: re-inviting replaces it.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


def _device_id() -> str:
    return new_public_id("dev")


class Device(models.Model):
    """A signed-in native app installation. Its tokens form one family: revoking the device signs the app out."""

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WINDOWS = "windows", "Windows"
        MACOS = "macos", "macOS"
        LINUX = "linux", "Linux"
        OTHER = "other", _("Other")

    public_id = models.CharField(max_length=40, unique=True, default=_device_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    push_token = models.CharField(_("push token"), max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)
    # The sign-in gave a two-factor code (orgs.access): what an organization requiring MFA asks of the device.
    second_factor = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()}) of {self.user}"


class DeviceToken(models.Model):
    """An access or refresh token of a device. Only the SHA-256 of the token is stored."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access")
        REFRESH = "refresh", _("Refresh")

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # A refresh token is spent once: presenting it again means it was copied, and the family is revoked.
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["device", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} token of {self.device_id}"


class DeviceAuthorization(OrgGuardedModel):
    """One Device Authorization Grant (RFC 8628, ``orgs.device_grant``): a client without a keyboard shows a user code,
    a signed-in person approves it in the browser, and the client's polling gets a native token pair once.

    Only the device code's SHA-256 is stored. ``organization`` is an optional restriction the client asked for: only a
    member of it may approve. Lookups go by the code (a credential), whichever organization: every query names that
    crossing with ``unscoped``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        DENIED = "denied", _("Denied")
        CONSUMED = "consumed", _("Signed in")
        EXPIRED = "expired", _("Expired")

    device_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Normalized: the eight letters without the dash shown to people (``XXXX-XXXX``).
    user_code = models.CharField(_("user code"), max_length=8)
    client_name = models.CharField(_("client name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=16, choices=Device.Platform.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    interval = models.PositiveSmallIntegerField(_("polling interval (seconds)"), default=5)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Who approved or denied it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # The approving browser session had given its second factor: what the issued device proves (orgs.access).
    second_factor = models.BooleanField(default=False)
    ip = models.GenericIPAddressField(_("requested from"), null=True, blank=True)

    org_path = "organization"

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user_code"], condition=models.Q(status="pending"), name="device_authorization_pending_code"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_name} ({self.get_status_display()})"
