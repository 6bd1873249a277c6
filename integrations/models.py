"""Integrations: OAuth2 applications (swapped into django-oauth-toolkit), later API keys and webhooks."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication


class Application(AbstractApplication):
    """An OAuth2 client registered by an organization; its tokens act inside that organization only.

    Swapped in with ``OAUTH2_PROVIDER_APPLICATION_MODEL`` from the first migration, as the toolkit requires.
    """

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="oauth_applications", verbose_name=_("organization")
    )
    scopes = models.JSONField(_("scopes"), default=list, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
