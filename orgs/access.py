"""Whether a principal may act now: the one decision, for every credential on every surface.

Credentials are resolved in several places (the cookie middleware below, the bearer authentication the API and the
WebSocket share, WebSocket tickets, open sockets); every one of them asks here, so one rule holds everywhere:

- the credential itself is live: its API key active, its device signed in, its OAuth2 token not revoked, its
  organization active;
- the person is active and satisfies what each organization they belong to requires *now*: two-factor
  authentication (``Organization.require_mfa``) and single sign-on (``OrganizationSSO.require_sso``; owners keep
  their password as an audited break-glass).

What a credential proves is its :class:`Assurance`, fixed when it was issued: a cookie session records whether its
second factor was given and which organizations' identity providers signed it in; a native device whether its
sign-in gave a code. Turning a requirement on ends the credentials that no longer satisfy it
(:func:`end_unsatisfying_credentials`), and every change that ends or narrows a credential is announced
(:func:`announce`) to the server processes, which re-check and close the sockets it opened (signaling.revocation).

orgs does not import the apps that own some credentials and requirements; they register here instead (from their
``AppConfig.ready``): :func:`register_credential` for an organization's machine credentials (API keys), and
:func:`register_sign_in_requirement` for where an organization's single sign-on requirement is stored. A credential
kind nobody registered is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from connect.errors import ApplicationError, error_response

from .mfa import has_confirmed_device
from .models import Membership, Organization, Role, User
from .tenancy import memberships_of

logger = logging.getLogger(__name__)

# Session keys of a cookie session's assurance.
SSO_SESSION_KEY = "connect_sso_orgs"  # organizations whose identity provider signed this session in
# The channel-layer group every server process listens on for ended credentials (signaling.revocation).
REVOCATION_GROUP = "access.revocations"

ENROLMENT_ALLOWED_PREFIXES = ("/account/security", "/accounts/logout", "/static/", "/healthz", "/readyz")


class AccessRefused(ApplicationError):
    """The credential is genuine but may not act now (a requirement it does not meet, or it was ended)."""

    status_code = 403
    code = "access_refused"


@dataclass(frozen=True)
class Assurance:
    """What a credential proved when it was issued."""

    second_factor: bool = False
    sso_orgs: frozenset[int] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, Any]:
        return {"second_factor": self.second_factor, "sso_orgs": sorted(self.sso_orgs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Assurance:
        data = data or {}
        return cls(bool(data.get("second_factor")), frozenset(int(o) for o in data.get("sso_orgs") or ()))


# --- Extension points -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInRequirement:
    """Where an organization's requirement that its members sign in through its identity provider is stored
    (single sign-on; integrations.sso registers it). The rule itself stays here: members other than owners need
    a credential the organization's identity provider signed in (``Assurance.sso_orgs``)."""

    # On Membership: its organization requires it now (one query finds every demanding membership).
    demanding: Q
    # What ``requires`` reads, fetched with the memberships.
    select_related: tuple[str, ...]
    requires: Callable[[Organization], bool]
    # The organizations that required it at or before a moment: an OAuth2 token issued then was authorized in a
    # session that met their requirement (see oauth_assurance).
    required_before: Callable[[datetime], Iterable[int]]


# A machine credential's kind (``Principal.kind``) -> whether it is still live (no person behind it to check).
_CREDENTIALS: dict[str, Callable[[Any], bool]] = {}
_SIGN_IN_REQUIREMENTS: dict[str, SignInRequirement] = {}


def register_credential(kind: str, *, is_live: Callable[[Any], bool]) -> None:
    """An organization's own credential of ``kind`` (no person acts with it): ``is_live(principal)`` re-reads it,
    for :func:`principal_refusal`. Registering a kind again replaces it."""
    _CREDENTIALS[kind] = is_live


def register_sign_in_requirement(name: str, requirement: SignInRequirement) -> None:
    """Where a sign-in requirement of organizations is stored (see :class:`SignInRequirement`); again: replaced."""
    _SIGN_IN_REQUIREMENTS[name] = requirement


# --- The decision ----------------------------------------------------------------------------------------------


def _demanding_memberships(user: User) -> list[Membership]:
    """The user's memberships in active organizations that require something of their members."""
    demanding = Q(organization__require_mfa=True)
    related = ["organization"]
    for requirement in _SIGN_IN_REQUIREMENTS.values():
        demanding |= requirement.demanding
        related.extend(requirement.select_related)
    return list(
        memberships_of(user)
        .filter(organization__status=Organization.Status.ACTIVE)
        .filter(demanding)
        .select_related(*related)
    )


def _sso_required(organization: Organization) -> bool:
    return any(requirement.requires(organization) for requirement in _SIGN_IN_REQUIREMENTS.values())


def person_refusal(user: User, assurance: Assurance) -> AccessRefused | None:
    """Why ``user``, holding a credential that proved ``assurance``, may not act now; ``None`` when they may."""
    if user is None or not user.is_active:
        return AccessRefused(_("This account is disabled."), code="account_disabled", status_code=401)
    for membership in _demanding_memberships(user):
        organization = membership.organization
        if organization.require_mfa and not assurance.second_factor:
            if has_confirmed_device(user):
                return AccessRefused(
                    _("%(org)s requires two-factor authentication: sign in again with your code.")
                    % {"org": organization.name},
                    code="mfa_required",
                    details={"organization": organization.slug},
                )
            return AccessRefused(
                _("Your organization requires two-factor authentication. Set it up to continue."),
                code="mfa_enrollment_required",
                details={"organization": organization.slug},
            )
        if _sso_required(organization) and membership.role != Role.OWNER and organization.pk not in assurance.sso_orgs:
            return AccessRefused(
                _("%(org)s signs you in through its identity provider; passwords are turned off.")
                % {"org": organization.name},
                code="sso_required",
                details={"organization": organization.slug},
            )
    return None


def oauth_assurance(access_token: Any) -> Assurance:
    """What an OAuth2 token acting for a person proved. It was authorized in a cookie session, which can only act
    once it satisfies every requirement; so a token proves a second factor if the person had one when it was
    issued, and single sign-on for the organizations that required it by then."""
    from django_otp import devices_for_user

    issued = access_token.created
    user = access_token.user
    second_factor = any(
        getattr(device, "created_at", None) is not None and device.created_at <= issued
        for device in devices_for_user(user, confirmed=True)
    )
    sso_orgs: set[int] = set()
    for requirement in _SIGN_IN_REQUIREMENTS.values():
        sso_orgs.update(requirement.required_before(issued))
    return Assurance(second_factor, frozenset(sso_orgs))


def principal_refusal(principal: Any, *, require_membership: bool = False) -> AccessRefused | None:
    """Re-read ``principal``'s credential from the database: is it still live, and may its person act now?

    For open sockets and WebSocket tickets, whose credential was checked when they were made. A native socket
    follows its device (access tokens rotate underneath it); an OAuth2 one its token.
    """
    gone = AccessRefused(
        _("The credential that opened this connection was revoked."), code="credential_revoked", status_code=401
    )
    kind = principal.kind
    if kind in _CREDENTIALS:  # an organization's own credential (an API key): live or not, nobody else to check
        return None if _CREDENTIALS[kind](principal) else gone
    if kind == "native":
        from .models import Device

        device = (
            Device.objects.select_related("user")
            .filter(public_id=principal.credential_id, revoked_at__isnull=True)
            .first()
        )
        if device is None:
            return gone
        user, assurance = device.user, Assurance(second_factor=device.second_factor)
    elif kind == "oauth":
        from oauth2_provider.models import get_access_token_model

        access = (
            get_access_token_model()
            .objects.select_related("application__organization", "user")
            .filter(pk=principal.token_id)
            .first()
        )
        if access is None or access.application is None or not access.application.organization.is_active:
            return gone
        if access.user is None:
            return None
        user, assurance = access.user, oauth_assurance(access)
    elif kind == "session":
        user = User.objects.filter(pk=getattr(principal.user, "pk", None)).first()
        assurance = principal.assurance or Assurance()
        if user is not None and principal.session_key and not _session_still_signed_in(principal.session_key, user):
            return gone
    else:
        return gone
    refusal = person_refusal(user, assurance)
    if refusal is None and require_membership and not _has_active_membership(user):
        return AccessRefused(_("You are no longer a member of any organization."), code="no_organization")
    return refusal


def _session_still_signed_in(session_key: str, user: User) -> bool:
    """The cookie session still exists, for this user, and predates no password change (Django's auth hash)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import HASH_SESSION_KEY
    from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
    from django.utils.crypto import constant_time_compare

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    return data.get(USER_SESSION_KEY) == str(user.pk) and constant_time_compare(
        data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    )


def _has_active_membership(user: User) -> bool:
    return memberships_of(user).filter(organization__status=Organization.Status.ACTIVE).exists()


# --- Ending credentials ----------------------------------------------------------------------------------------


def socket_keys(principal: Any) -> set[str]:
    """The announcement keys that concern sockets opened with ``principal``."""
    keys = {f"cred:{principal.kind}:{principal.token_id or principal.credential_id}"}
    if principal.session_key:
        keys.add(f"cookie:{principal.session_key}")
    if principal.user is not None and getattr(principal.user, "pk", None):
        keys.add(f"user:{principal.user.pk}")
    if principal.organization is not None:
        keys.add(f"org:{principal.organization.pk}")
    return keys


def announce(keys: Iterable[str]) -> None:
    """Tell every server process, once the current transaction commits, that credentials under ``keys`` ended or
    narrowed (``user:<pk>``, ``org:<pk>``, ``cred:<kind>:<id>``): their sockets re-check and close if refused."""
    keys = sorted(set(keys))
    if not keys:
        return

    def send() -> None:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(REVOCATION_GROUP, {"type": "access.changed", "keys": keys})
        except Exception:  # noqa: BLE001 - the change has committed; a lost announcement must not undo the answer
            logger.exception("could not announce ended credentials %s", keys)

    transaction.on_commit(send)


def _end_oauth_tokens(users: list[User]) -> int:
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    if not users:
        return 0
    get_grant_model().objects.filter(user__in=users).delete()
    get_refresh_token_model().objects.filter(user__in=users).delete()
    count, _rows = get_access_token_model().objects.filter(user__in=users).delete()
    return count


def end_unsatisfying_credentials(*, organization: Organization, requirement: str) -> int:
    """After ``requirement`` ("mfa" or "sso") was turned on for ``organization``: sign out the native devices and
    end the OAuth2 tokens of members that no longer satisfy it, and close their sockets. Cookie sessions need no
    list: the middleware refuses them on their next request. Returns how many credentials ended."""
    from .devices import device_revoke
    from .models import Device

    members = [m.user for m in Membership.objects.for_org(organization).select_related("user")]
    if requirement == "mfa":
        affected = members
        devices = Device.objects.filter(user__in=affected, revoked_at__isnull=True, second_factor=False)
        token_users = [u for u in affected if not has_confirmed_device(u)]
        reason = "mfa_required"
    elif requirement == "sso":
        owners = set(Membership.objects.for_org(organization).filter(role=Role.OWNER).values_list("user_id", flat=True))
        affected = [u for u in members if u.pk not in owners]
        devices = Device.objects.filter(user__in=affected, revoked_at__isnull=True)
        token_users = affected
        reason = "sso_required"
    else:
        raise ValueError(requirement)
    ended = 0
    for device in devices:
        device_revoke(device=device, reason=reason)
        ended += 1
    ended += _end_oauth_tokens(token_users)
    announce(f"user:{u.pk}" for u in affected)
    return ended


# --- Cookies ---------------------------------------------------------------------------------------------------


def on_signed_out(sender, request, user, **kwargs) -> None:
    """django.contrib.auth's user_logged_out: what this cookie session opened closes."""
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        announce([f"cookie:{request.session.session_key}"])


def on_password_changed(sender, request=None, user=None, **kwargs) -> None:
    """allauth's password_changed / password_reset: sessions signed in before it end, sockets included."""
    if user is not None and user.pk:
        announce([f"user:{user.pk}"])


def session_assurance(user: User, session: Any) -> Assurance:
    """What a cookie session proved: its second factor (django-otp's verified device) and its SSO sign-ins."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device as OTPDevice

    second_factor = False
    device_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if device_id:
        device = OTPDevice.from_persistent_id(device_id, for_verify=False)
        second_factor = bool(device and device.user_id == user.pk and device.confirmed)
    sso_orgs = session.get(SSO_SESSION_KEY, []) if session is not None else []
    return Assurance(second_factor, frozenset(int(o) for o in sso_orgs))


def session_record_sso(request: Any, organization: Organization) -> None:
    """This session was signed in by ``organization``'s identity provider."""
    orgs = set(request.session.get(SSO_SESSION_KEY, []))
    orgs.add(organization.pk)
    request.session[SSO_SESSION_KEY] = sorted(orgs)


def sso_required_context(refusal: AccessRefused) -> dict[str, Any]:
    """The page that tells a member their organization signs them in through its identity provider."""
    return {
        "message": refusal.message,
        "title": _("Sign in through your organization"),
        "hint": _("Enter your work e-mail address on the sign-in page: it takes you to your organization's sign-in."),
    }


def _presents_bearer(request: Any) -> bool:
    return "HTTP_AUTHORIZATION" in request.META


class CookieAccessMiddleware:
    """Runs after django-otp's middleware; decides for the cookie what :func:`person_refusal` decides for tokens.

    - A session whose user has an authenticator but has not given its code is anonymous, whatever signed it in.
    - A session that does not meet a requirement of the person's organizations counts for nothing when the request
      carries another credential (that one decides, the cookie never does); otherwise, a member who must enrol in
      two-factor authentication reaches nothing but the enrolment page, and a password session of a member whose
      organization requires single sign-on is signed out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        if not user.is_verified() and has_confirmed_device(user):
            request.user = AnonymousUser()
            return self.get_response(request)
        refusal = person_refusal(user, session_assurance(user, request.session))
        if refusal is None:
            return self.get_response(request)
        if _presents_bearer(request):
            request.user = AnonymousUser()
            return self.get_response(request)
        if refusal.code == "mfa_enrollment_required":
            if request.path.startswith(ENROLMENT_ALLOWED_PREFIXES):
                return self.get_response(request)
            return self._refused(request, refusal, redirect_to=reverse("account_security"))
        logout(request)
        return self._refused(request, refusal)

    def _refused(self, request, refusal: AccessRefused, *, redirect_to: str | None = None):
        if request.path.startswith("/api/"):
            return error_response(refusal.code, refusal.message, refusal.status_code, refusal.details)
        if redirect_to:
            from django.contrib import messages

            messages.warning(request, refusal.message)
            return redirect(redirect_to)
        return render(request, "integrations/sso_error.html", sso_required_context(refusal), status=refusal.status_code)
