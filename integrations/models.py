"""Integrations: OAuth2 applications (swapped into django-oauth-toolkit), later API keys and webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication, ApplicationManager

from connect.ids import new_public_id
from orgs.tenancy import OrgGuardedModel, OrgOwnedModel, OrgScopedQuerySet


class Application(OrgGuardedModel, AbstractApplication):
    """An OAuth2 client registered by an organization; its tokens act inside that organization only.

    Swapped in with ``OAUTH2_PROVIDER_APPLICATION_MODEL`` from the first migration, as the toolkit requires.
    """

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="oauth_applications", verbose_name=_("organization")
    )
    scopes = models.JSONField(_("scopes"), default=list, blank=True)

    org_path = "organization"

    objects = ApplicationManager.from_queryset(OrgScopedQuerySet)()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"


def _api_key_id() -> str:
    return new_public_id("key")


class APIKey(OrgOwnedModel):
    """A server-to-server credential of one organization, carrying scopes. Shown once; only its hash is kept."""

    public_id = models.CharField(max_length=40, unique=True, default=_api_key_id, editable=False)
    name = models.CharField(_("name"), max_length=100)
    # The first characters of the key, so people can tell keys apart in lists and logs.
    prefix = models.CharField(_("prefix"), max_length=20)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


def _endpoint_id() -> str:
    return new_public_id("whe")


def _message_id() -> str:
    return new_public_id("msg")


def _delivery_id() -> str:
    return new_public_id("dlv")


class WebhookEndpoint(OrgOwnedModel):
    """Where an organization wants its events sent. Signed per the Standard Webhooks specification."""

    public_id = models.CharField(max_length=40, unique=True, default=_endpoint_id, editable=False)
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Empty: every event type.
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    secret = models.CharField(max_length=80)
    # During a rotation the old secret keeps signing too, until this moment.
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url

    # Streams an endpoint gets only by naming them: every audit entry doubles the other events' traffic.
    OPT_IN_EVENT_TYPES = frozenset({"audit.entry"})

    def wants(self, event_type: str) -> bool:
        if event_type in self.OPT_IN_EVENT_TYPES:
            return event_type in self.event_types
        return not self.event_types or event_type in self.event_types


class WebhookEvent(OrgOwnedModel):
    """The outbox: written in the same transaction as the change it describes, so it is never lost and never
    sent for a change that rolled back. ``public_id`` is the ``webhook-id``, stable across retries."""

    public_id = models.CharField(max_length=40, unique=True, default=_message_id, editable=False)
    type = models.CharField(max_length=60)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class WebhookDelivery(OrgGuardedModel):
    """One event for one endpoint, attempted until it succeeds or gives up."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    public_id = models.CharField(max_length=40, unique=True, default=_delivery_id, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    org_path = "event__organization"

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_endpoint")]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"

    @property
    def last_attempt(self) -> DeliveryAttempt | None:
        attempts = list(self.attempt_log.all())  # uses the prefetched log when there is one
        return attempts[-1] if attempts else None


class DeliveryAttempt(OrgGuardedModel):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)

    org_path = "delivery__event__organization"

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt at {self.attempted_at} ({self.status_code or self.error})"


class OrganizationSSO(OrgGuardedModel):
    """How people of an organization sign in through its identity systems."""

    organization = models.OneToOneField("orgs.Organization", on_delete=models.CASCADE, related_name="sso")
    # BizGaze suite sign-in (docs/sso.md): tokens signed with HMAC-SHA256 under this secret.
    bizgaze_secret = models.CharField(_("BizGaze suite secret"), max_length=200, blank=True)
    default_role = models.CharField(_("role of people provisioned by SSO"), max_length=16, default="agent")
    # OpenID Connect (integrations.oidc): people with an address in these domains sign in at this issuer.
    oidc_issuer = models.URLField(_("OpenID Connect issuer"), blank=True)
    oidc_client_id = models.CharField(_("client id"), max_length=200, blank=True)
    oidc_client_secret = models.CharField(_("client secret"), max_length=500, blank=True)
    email_domains = models.JSONField(_("e-mail domains"), default=list, blank=True)
    # Domains the operator has verified the organization owns. Organization admins may only route these to their
    # identity provider: routing someone else's domain would let an IdP sign in people it does not own.
    verified_domains = models.JSONField(_("verified e-mail domains"), default=list, blank=True)
    require_sso = models.BooleanField(
        _("require single sign-on"),
        default=False,
        help_text=_("Members cannot sign in with a password; owners keep a break-glass password sign-in, audited."),
    )
    # When single sign-on became required: OAuth2 tokens issued since were authorized in SSO sessions (orgs.access).
    require_sso_since = models.DateTimeField(null=True, blank=True, editable=False)

    org_path = "organization"

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("single sign-on settings")
        verbose_name_plural = _("single sign-on settings")

    def __str__(self) -> str:
        return f"SSO of {self.organization}"

    @property
    def provider_id(self) -> str:
        return f"org-{self.organization.slug}"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
