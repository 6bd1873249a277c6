"""django-allauth's social-account adapter for organization sign-in (settings ``SOCIALACCOUNT_ADAPTER``): only
addresses of the organization's own domains sign in through its identity provider."""

from __future__ import annotations

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.utils.translation import gettext as _

from orgs.services import user_mark_email_verified

from ..models import OrganizationSSO


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Only addresses of the organization's domains may sign in through its identity provider."""

    def _config(self, request, sociallogin) -> OrganizationSSO:
        provider_id = sociallogin.account.get_provider().app.provider_id
        config = (
            OrganizationSSO.objects.select_related("organization")
            .filter(organization__slug=provider_id.removeprefix("org-"))
            .first()
        )
        if config is None or not config.oidc_enabled:
            raise ImmediateHttpResponse(_sso_refused(request, _("This organization has no single sign-on.")))
        return config

    def pre_social_login(self, request, sociallogin) -> None:
        config = self._config(request, sociallogin)
        email = (sociallogin.user.email or "").lower()
        if not email or email.rsplit("@", 1)[-1] not in config.email_domains:
            raise ImmediateHttpResponse(
                _sso_refused(
                    request,
                    _("%(email)s is not an address of %(org)s.")
                    % {"email": email or "?", "org": config.organization.name},
                )
            )

    def is_open_for_signup(self, request, sociallogin) -> bool:
        # pre_social_login has already checked that the address belongs to the organization's domains.
        return True

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        user_mark_email_verified(user)
        return user


def _sso_refused(request, message: str):
    from django.shortcuts import render

    return render(request, "integrations/sso_error.html", {"message": message}, status=403)
