"""Integrations: OAuth2 applications (swapped into django-oauth-toolkit), later API keys and webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication, ApplicationManager

from connect.ids import new_public_id
from orgs.tenancy import OrgOwnedModel, OrgScopedQuerySet


class Application(AbstractApplication):
    """An OAuth2 client registered by an organization; its tokens act inside that organization only.

    Swapped in with ``OAUTH2_PROVIDER_APPLICATION_MODEL`` from the first migration, as the toolkit requires.
    """

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="oauth_applications", verbose_name=_("organization")
    )
    scopes = models.JSONField(_("scopes"), default=list, blank=True)

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
