"""Single sign-on: the BizGaze suite's sign-in, OpenID Connect per organization, and its requirement.

BizGaze suite sign-in is the old product's ``/sso``, kept for compatibility (token format in docs/sso.md). A token
is ``<payload>.<signature>``: the payload is base64url (no padding) of a JSON object
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
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from connect.api.parsers import loads_bounded
from connect.errors import ApplicationError
from orgs import access
from orgs.models import Membership, Organization, Role, User
from orgs.services import membership_add, normalize_email, user_mark_email_verified
from orgs.tenancy import memberships_of

from ..models import OrganizationSSO

MAX_AHEAD_SECONDS = 300
# The sign-in form's "use my password" for an address of an organization with single sign-on (its id).
BREAK_GLASS_SESSION_KEY = "connect_break_glass_org"
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
        claims = loads_bounded(_b64decode(payload))
        signature_bytes = _b64decode(signature)
    except (ValueError, binascii.Error):
        raise SSOError(_("The sign-in link is malformed.")) from None
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k), str) for k in ("email", "org", "nonce")):
        raise SSOError(_("The sign-in link is missing its e-mail, organization or nonce."))
    if any("\x00" in claims[k] for k in ("email", "org", "nonce")):  # PostgreSQL refuses NUL in the look-ups
        raise SSOError(_("The sign-in link is malformed."))
    return claims, payload, signature_bytes


@transaction.atomic
def bizgaze_sign_in(token: str, *, ip: str | None = None) -> tuple[User, Organization]:
    """The user a valid token names, provisioned into its organization on first use, and that organization.
    Anything wrong: SSOError."""
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
    _provision(config, user, ip, via="bizgaze")
    # The person is the actor (a label, pseudonymized on erasure); the hashed data holds no address.
    audit_record(organization=config.organization, action="sso.bizgaze_sign_in", actor=user, ip=ip)
    return user, config.organization


# --- The requirement (orgs.access decides with it) --------------------------------------------------------------


def sso_required(organization: Organization) -> bool:
    """Whether ``organization`` requires its members to sign in through its identity provider now (``sso`` fetched
    with it)."""
    sso = getattr(organization, "sso", None)
    return bool(sso and sso.require_sso and sso.oidc_issuer)


def organizations_requiring_sso_before(moment: datetime) -> Iterable[int]:
    """The organizations that required single sign-on at or before ``moment`` (an OAuth2 token issued then)."""
    return (
        OrganizationSSO.objects.unscoped("which organizations required single sign-on before this token was issued")
        .filter(require_sso=True, require_sso_since__isnull=False, require_sso_since__lte=moment)
        .values_list("organization_id", flat=True)
    )


SSO_REQUIREMENT = access.SignInRequirement(
    demanding=Q(organization__sso__require_sso=True, organization__sso__oidc_issuer__gt=""),
    select_related=("organization__sso",),
    requires=sso_required,
    required_before=organizations_requiring_sso_before,
)


# --- OpenID Connect per organization ---------------------------------------------------------------------


@transaction.atomic
def oidc_configure(
    *,
    organization: Organization,
    issuer: str,
    client_id: str,
    client_secret: str,
    email_domains: list[str],
    default_role: str = Role.AGENT,
    require_sso: bool = False,
    actor: object = None,
) -> OrganizationSSO:
    """Point an organization's e-mail domains at its identity provider (an allauth SocialApp per organization).

    The issuer must be an address the outbound guard accepts (https outside debug, resolving to public addresses
    only); every request to it goes through the guard again at sign-in. ``actor``: who does it (a member, the
    staff member in the Django admin; None: the system), named in the audit log with what changed."""
    from allauth.socialaccount.models import SocialApp

    from billing import entitlements
    from connect import outbound

    entitlements.require_feature(organization, "sso")
    issuer = issuer.strip().rstrip("/")
    try:
        outbound.check_public_url(issuer)
    except outbound.OutboundError as exc:
        raise ApplicationError(
            _("The issuer URL cannot be used: %(reason)s") % {"reason": exc},
            code="invalid_issuer",
            details={"field": "oidc_issuer"},
        ) from None
    domains = sorted({d.strip().lower().lstrip("@") for d in email_domains if d.strip()})
    taken = (
        OrganizationSSO.objects.unscoped("an e-mail domain signs in at one organization's identity provider only")
        .exclude(organization=organization)
        .filter(oidc_issuer__gt="")
    )
    for other in taken:
        if set(other.email_domains) & set(domains):
            raise ApplicationError(_("Another organization signs in people of these domains."), code="domain_taken")
    config, _created = OrganizationSSO.objects.for_org(organization).get_or_create(organization=organization)
    before = {name: getattr(config, name) for name in OIDC_AUDITED_FIELDS}
    secret_changed = config.oidc_client_secret != client_secret
    was_required = config.require_sso
    config.oidc_issuer = issuer
    config.oidc_client_id = client_id
    config.oidc_client_secret = client_secret
    config.email_domains = domains
    config.default_role = default_role
    sso_turned_on = require_sso and not config.require_sso
    config.require_sso = require_sso
    if sso_turned_on:
        config.require_sso_since = timezone.now()
    elif not require_sso:
        config.require_sso_since = None
    config.save()
    changes = {
        name: [before[name], getattr(config, name)]
        for name in OIDC_AUDITED_FIELDS
        if before[name] != getattr(config, name)
    }
    if changes or secret_changed:
        audit_record(
            organization=organization,
            action="sso.configured",
            actor=actor,
            target=config,
            target_label=issuer,
            data={"kind": "oidc", "changes": changes, "client_secret_changed": secret_changed},
        )
    if was_required != config.require_sso:
        audit_record(
            organization=organization,
            action="sso.require_sso_changed",
            actor=actor,
            target=config,
            target_label=issuer,
            data={"require_sso": [was_required, config.require_sso]},
        )
    if sso_turned_on:
        # Password sign-ins of members (owners keep theirs) end now; their sockets close.
        access.end_unsatisfying_credentials(organization=organization, requirement="sso")
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


# What an entry shows of an OpenID Connect change (the client secret only as "changed").
OIDC_AUDITED_FIELDS = ("oidc_issuer", "oidc_client_id", "email_domains", "default_role")


@transaction.atomic
def sso_operator_configure(
    *, config: OrganizationSSO, operator: object = None, bizgaze_secret: str, default_role: str, verified_domains: list
) -> OrganizationSSO:
    """What only the service's operators set (the Django admin): the BizGaze suite's shared secret, the role of people
    provisioned, the domains the organization proved it owns. Recorded with what changed (the secret as "changed")."""
    if default_role not in Role.values:
        raise ApplicationError(_("Choose a role."), code="invalid_role", details={"field": "default_role"})
    domains = sorted({d.strip().lower().lstrip("@") for d in verified_domains if d.strip()})
    before = {"default_role": config.default_role, "verified_domains": list(config.verified_domains or [])}
    secret_changed = config.bizgaze_secret != bizgaze_secret
    config.bizgaze_secret = bizgaze_secret
    config.default_role = default_role
    config.verified_domains = domains
    after = {"default_role": default_role, "verified_domains": domains}
    changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    config.save()
    if changes or secret_changed:
        audit_record(
            organization=config.organization,
            action="sso.configured",
            actor=operator,
            target=config,
            target_label=config.organization.name,
            data={
                "kind": "bizgaze",
                "changes": changes,
                "bizgaze_secret_changed": secret_changed,
                "bizgaze_enabled": bool(bizgaze_secret),
            },
        )
    return config


@transaction.atomic
def sso_oidc_clear(*, config: OrganizationSSO, operator: object = None) -> OrganizationSSO:
    """Switch an organization's OpenID Connect off (operators, in the Django admin): its members sign in with
    passwords again, so the requirement ends with it."""
    from allauth.socialaccount.models import SocialApp

    if not (config.oidc_issuer or config.oidc_client_id or config.require_sso):
        return config
    before = {name: getattr(config, name) for name in OIDC_AUDITED_FIELDS}
    was_required = config.require_sso
    config.oidc_issuer = config.oidc_client_id = config.oidc_client_secret = ""
    config.require_sso, config.require_sso_since = False, None
    config.save()
    SocialApp.objects.filter(provider="connect_oidc", provider_id=config.provider_id).delete()
    changes = {
        name: [before[name], getattr(config, name)]
        for name in OIDC_AUDITED_FIELDS
        if before[name] != getattr(config, name)
    }
    audit_record(
        organization=config.organization,
        action="sso.configured",
        actor=operator,
        target=config,
        target_label=config.organization.name,
        data={"kind": "oidc", "changes": changes, "client_secret_changed": True, "oidc_enabled": False},
    )
    if was_required:
        audit_record(
            organization=config.organization,
            action="sso.require_sso_changed",
            actor=operator,
            target=config,
            target_label=config.organization.name,
            data={"require_sso": [True, False]},
        )
    return config


def sso_for_email(email: str) -> OrganizationSSO | None:
    """The organization whose identity provider signs in this address, if any."""
    domain = (email or "").rsplit("@", 1)[-1].strip().lower()
    if not domain:
        return None
    configs = OrganizationSSO.objects.unscoped("an e-mail domain names the organization whose IdP signs it in")

    for config in configs.select_related("organization").filter(
        oidc_issuer__gt="", organization__status=Organization.Status.ACTIVE
    ):
        if domain in config.email_domains:
            return config
    return None


def _provision(config: OrganizationSSO, user: User, ip: str | None, *, via: str = "oidc") -> None:
    """A person the organization's identity provider vouched for becomes a member with its default role: through the
    membership service (``member.added``, its event), and the sign-in that did it is recorded (``sso.provisioned``)."""
    if Membership.objects.for_org(config.organization).filter(user=user).exists():
        return
    role = config.default_role if config.default_role in Role.values else Role.AGENT
    membership_add(organization=config.organization, user=user, role=role)
    audit_record(
        organization=config.organization,
        action="sso.provisioned",
        actor=user,
        target=user,
        ip=ip,
        data={"role": role, "via": via},
    )


def record_sign_in(sender, request, user, **kwargs) -> None:
    """allauth's user_logged_in. Through an organization's identity provider: the person becomes a member, and the
    session counts as signed in by it (orgs.access). With a password, to an organization that requires single
    sign-on: only an owner gets here (orgs.access refuses everyone else), and it is their audited break-glass."""
    ip = request.META.get("REMOTE_ADDR") if request else None
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is not None:
        provider_id = sociallogin.account.get_provider().app.provider_id or ""
        config = (
            OrganizationSSO.objects.select_related("organization")
            .filter(organization__slug=provider_id.removeprefix("org-"))
            .first()
        )
        if config is not None:
            _provision(config, user, ip)
            if request is not None:
                access.session_record_sso(request, config.organization)
        return
    organization_ids = set(
        memberships_of(user)
        .filter(role=Role.OWNER, organization__sso__require_sso=True, organization__sso__oidc_issuer__gt="")
        .values_list("organization_id", flat=True)
    )
    asked = request.session.pop(BREAK_GLASS_SESSION_KEY, None) if request is not None else None
    if asked is not None:
        organization_ids.add(asked)
    for organization in Organization.objects.filter(pk__in=organization_ids):
        audit_record(organization=organization, action="sso.break_glass", actor=user, ip=ip)


def oidc_configure_by_org_admin(
    *,
    organization: Organization,
    issuer: str,
    client_id: str,
    client_secret: str,
    email_domains: list[str],
    default_role: str,
    require_sso: bool,
    actor: object = None,
) -> OrganizationSSO:
    """:func:`oidc_configure` for the organization's own admins: only domains the operator verified, and the
    secret is kept when left empty."""
    config = OrganizationSSO.objects.for_org(organization).first()
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
        actor=actor,
    )
