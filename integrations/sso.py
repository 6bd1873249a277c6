"""BizGaze suite sign-in, the old product's ``/sso``, kept for compatibility (token format in docs/sso.md).

A token is ``<payload>.<signature>``: the payload is base64url (no padding) of a JSON object
``{"email", "name", "org", "exp", "nonce"}``; the signature is base64url of HMAC-SHA256 over the payload text with
the organization's secret. ``exp`` is at most five minutes ahead; each nonce is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from orgs.models import Membership, Organization, Role, User
from orgs.services import normalize_email, user_mark_email_verified
from sessions.audit import audit_record

from .models import OrganizationSSO

MAX_AHEAD_SECONDS = 300
MAX_TOKEN_CHARS = 4096


class SSOError(ApplicationError):
    status_code = 401
    code = "sso_invalid"


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, claims: dict) -> str:
    """Build a token as the BizGaze suite does (for tests and for the suite's developers)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _claims(token: str) -> tuple[dict, str, str]:
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise SSOError(_("The sign-in link is malformed."))
    payload, signature = token.split(".")
    try:
        claims = json.loads(_b64decode(payload))
        signature_bytes = _b64decode(signature)
    except (ValueError, binascii.Error):
        raise SSOError(_("The sign-in link is malformed.")) from None
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k), str) for k in ("email", "org", "nonce")):
        raise SSOError(_("The sign-in link is missing its e-mail, organization or nonce."))
    return claims, payload, signature_bytes


@transaction.atomic
def bizgaze_sign_in(token: str, *, ip: str | None = None) -> User:
    """The user a valid token names, provisioned into its organization on first use. Anything wrong: SSOError."""
    claims, payload, signature = _claims(token)
    config = (
        OrganizationSSO.objects.select_related("organization")
        .filter(organization__slug=claims["org"], organization__status=Organization.Status.ACTIVE)
        .exclude(bizgaze_secret="")
        .first()
    )
    if config is None:
        raise SSOError(_("This organization does not accept BizGaze sign-in."))
    expected = hmac.new(config.bizgaze_secret.encode(), payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise SSOError(_("The sign-in link's signature is not valid."))
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        raise SSOError(_("The sign-in link has expired."), code="sso_expired")
    if exp > now + MAX_AHEAD_SECONDS:
        raise SSOError(_("The sign-in link is valid for too long (at most 5 minutes)."))
    # A nonce works once: the cache entry lives until the token could no longer be used anyway.
    if not cache.add(f"sso-nonce:{config.organization_id}:{claims['nonce'][:200]}", 1, int(exp - now) + 60):
        raise SSOError(_("This sign-in link was already used."), code="sso_replayed")
    email = normalize_email(claims["email"])
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None, name=str(claims.get("name", ""))[:150])
        user_mark_email_verified(user)
    if not user.is_active:
        raise SSOError(_("This account is disabled."))
    membership = Membership.objects.for_org(config.organization).filter(user=user).first()
    if membership is None:
        role = config.default_role if config.default_role in Role.values else Role.AGENT
        Membership.objects.create(organization=config.organization, user=user, role=role)
    audit_record(
        organization=config.organization, action="sso.bizgaze_sign_in", actor=user, ip=ip, data={"email": email}
    )
    return user


# --- OpenID Connect per organization ---------------------------------------------------------------------


def oidc_configure(
    *,
    organization: Organization,
    issuer: str,
    client_id: str,
    client_secret: str,
    email_domains: list[str],
    default_role: str = Role.AGENT,
    require_sso: bool = False,
) -> OrganizationSSO:
    """Point an organization's e-mail domains at its identity provider (an allauth SocialApp per organization)."""
    from allauth.socialaccount.models import SocialApp

    domains = sorted({d.strip().lower().lstrip("@") for d in email_domains if d.strip()})
    taken = OrganizationSSO.objects.exclude(organization=organization).filter(oidc_issuer__gt="")
    for other in taken:
        if set(other.email_domains) & set(domains):
            raise ApplicationError(_("Another organization signs in people of these domains."), code="domain_taken")
    config, _created = OrganizationSSO.objects.get_or_create(organization=organization)
    config.oidc_issuer = issuer.rstrip("/")
    config.oidc_client_id = client_id
    config.oidc_client_secret = client_secret
    config.email_domains = domains
    config.default_role = default_role
    config.require_sso = require_sso
    config.save()
    SocialApp.objects.update_or_create(
        provider="connect_oidc",
        provider_id=config.provider_id,
        defaults={
            "name": organization.name,
            "client_id": client_id,
            "secret": client_secret,
            "settings": {"server_url": config.oidc_issuer},
        },
    )
    return config


def sso_for_email(email: str) -> OrganizationSSO | None:
    """The organization whose identity provider signs in this address, if any."""
    domain = (email or "").rsplit("@", 1)[-1].strip().lower()
    if not domain:
        return None
    for config in OrganizationSSO.objects.select_related("organization").filter(
        oidc_issuer__gt="", organization__status=Organization.Status.ACTIVE
    ):
        if domain in config.email_domains:
            return config
    return None


def password_sign_in_refused(user: User) -> OrganizationSSO | None:
    """The SSO-only organization that forbids this user a password, or None (owners keep a break-glass path)."""
    for config in OrganizationSSO.objects.select_related("organization").filter(require_sso=True, oidc_issuer__gt=""):
        membership = Membership.objects.for_org(config.organization).filter(user=user).first()
        if membership is not None and membership.role != Role.OWNER:
            return config
    return None


def _provision(config: OrganizationSSO, user: User, ip: str | None) -> None:
    if not Membership.objects.for_org(config.organization).filter(user=user).exists():
        role = config.default_role if config.default_role in Role.values else Role.AGENT
        Membership.objects.create(organization=config.organization, user=user, role=role)
        audit_record(
            organization=config.organization,
            action="sso.provisioned",
            actor=user,
            ip=ip,
            data={"email": user.email, "role": role},
        )


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


def provision_on_login(sender, request, user, **kwargs) -> None:
    """allauth's user_logged_in: a sign-in through an organization's IdP makes the person a member."""
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return
    provider_id = sociallogin.account.get_provider().app.provider_id or ""
    config = (
        OrganizationSSO.objects.select_related("organization")
        .filter(organization__slug=provider_id.removeprefix("org-"))
        .first()
    )
    if config is not None:
        _provision(config, user, request.META.get("REMOTE_ADDR") if request else None)


def oidc_configure_by_org_admin(
    *,
    organization: Organization,
    issuer: str,
    client_id: str,
    client_secret: str,
    email_domains: list[str],
    default_role: str,
    require_sso: bool,
) -> OrganizationSSO:
    """:func:`oidc_configure` for the organization's own admins: only domains the operator verified, and the
    secret is kept when left empty."""
    config = OrganizationSSO.objects.filter(organization=organization).first()
    verified = set(config.verified_domains) if config else set()
    wanted = {d.strip().lower().lstrip("@") for d in email_domains if d.strip()}
    if not wanted <= verified:
        raise ApplicationError(
            _("Only verified domains can use single sign-on: %(domains)s. Ask support to verify others.")
            % {"domains": ", ".join(sorted(verified)) or _("none yet")},
            code="domain_not_verified",
            details={"field": "email_domains"},
        )
    if default_role not in (Role.AGENT, Role.MEMBER):
        raise ApplicationError(
            _("New people may be agents or members."), code="invalid_role", details={"field": "default_role"}
        )
    secret = client_secret or (config.oidc_client_secret if config else "")
    if not (issuer and client_id and secret):
        raise ApplicationError(_("Give the issuer, the client id and the client secret."), code="incomplete")
    return oidc_configure(
        organization=organization,
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        email_domains=sorted(wanted),
        default_role=default_role,
        require_sso=require_sso,
    )
