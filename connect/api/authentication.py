"""Every way a client proves who it is, all ending in a :class:`orgs.tenancy.Principal` as ``request.auth``.

- Browser: the Django session cookie (CSRF enforced; a session waiting for its MFA code is anonymous).
- Native apps: ``Authorization: Bearer cat_...`` (``orgs.devices``).
- Integrations: ``Authorization: Bearer cnk_...`` API keys, or an OAuth2 access token (``coa_...``).

``principal_from_bearer`` is shared with the WebSocket authentication, so HTTP and WebSocket accept the same
credentials the same way.
"""

from __future__ import annotations

import hashlib

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied

from connect.errors import ApplicationError
from orgs.access import AccessRefused, Assurance, oauth_assurance, person_refusal, session_assurance
from orgs.tenancy import Principal

NATIVE_PREFIX = "cat_"
API_KEY_PREFIX = "cnk_"


class CredentialUser:
    """``request.user`` for credentials that belong to an organization rather than a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.public_id = principal.credential_id
        self.email = ""

    def __str__(self) -> str:
        return f"{self.principal.kind}:{self.principal.credential_id}"


def principal_from_bearer(token: str, *, ip: str | None = None) -> Principal:
    """Turn a bearer token of any kind into a principal, or raise :class:`ApplicationError` (401)."""
    from integrations.credentials.services import api_key_check
    from orgs.devices import TokenError, access_token_user

    if token.startswith(NATIVE_PREFIX):
        user, device = access_token_user(token, ip=ip)
        assurance = Assurance(second_factor=device.second_factor)
        _refuse_person(user, assurance)
        return Principal("native", user=user, credential_id=device.public_id, assurance=assurance)
    if token.startswith(API_KEY_PREFIX):
        key = api_key_check(token)
        if key is None:
            raise TokenError(_("The API key is not valid, expired or revoked."), code="invalid_api_key")
        return Principal(
            "api_key", organization=key.organization, scopes=frozenset(key.scopes), credential_id=key.public_id
        )
    return _oauth_principal(token)


def _oauth_principal(token: str) -> Principal:
    from oauth2_provider.models import get_access_token_model

    from orgs.devices import TokenError

    access = (
        get_access_token_model()
        .objects.select_related("application__organization", "user")
        .filter(token_checksum=hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    if access is None or access.application is None:
        raise TokenError(_("The access token is not valid."))
    if access.expires <= timezone.now():
        raise TokenError(_("The access token has expired."), code="token_expired")
    if access.user is not None and not access.user.is_active:
        raise TokenError(_("This account is disabled."), code="account_disabled")
    assurance = None
    if access.user is not None:
        assurance = oauth_assurance(access)
        _refuse_person(access.user, assurance)
    return Principal(
        "oauth",
        user=access.user,
        organization=access.application.organization,
        scopes=frozenset(access.scope.split()),
        credential_id=access.application.client_id,
        token_id=access.pk,
        assurance=assurance,
    )


def _refuse_person(user, assurance: Assurance) -> None:
    refusal = person_refusal(user, assurance)
    if refusal is not None:
        raise refusal


def _bearer_token(request) -> str | None:
    header = get_authorization_header(request)
    if not header:
        return None
    parts = header.split()
    if parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(_("Malformed Authorization header: expected 'Bearer <token>'."))
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed(_("Malformed Authorization header.")) from None


class _BearerBase(BaseAuthentication):
    prefix: str | None = None

    def authenticate(self, request):
        token = _bearer_token(request)
        if token is None or not self.matches(token):
            return None
        try:
            principal = principal_from_bearer(token, ip=request.META.get("REMOTE_ADDR"))
        except AccessRefused as exc:
            # A genuine credential that may not act now: 403 naming the requirement it misses.
            raise PermissionDenied(exc.message, code=exc.code) from None
        except ApplicationError as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from None
        return (principal.user or CredentialUser(principal), principal)

    def matches(self, token: str) -> bool:
        return token.startswith(self.prefix)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class NativeTokenAuthentication(_BearerBase):
    """Access tokens of the native apps (``POST /api/v1/auth/token``)."""

    prefix = NATIVE_PREFIX


class APIKeyAuthentication(_BearerBase):
    """Organization API keys."""

    prefix = API_KEY_PREFIX


class OAuth2TokenAuthentication(_BearerBase):
    """OAuth2 access tokens (client credentials, or authorization code + PKCE). Takes any other bearer token."""

    def matches(self, token: str) -> bool:
        return not token.startswith((NATIVE_PREFIX, API_KEY_PREFIX))


class CookieAuthentication(SessionAuthentication):
    """The browser's session cookie, with CSRF protection on unsafe methods."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _auth = result
        # orgs.access.CookieAccessMiddleware has already refused a session that may not act (the user is then
        # anonymous here); its assurance travels with the principal, e.g. into a WebSocket ticket.
        session = request._request.session
        assurance = session_assurance(user, session)
        principal = Principal(
            "session",
            user=user,
            credential_id=f"user:{user.public_id}",
            assurance=assurance,
            session_key=session.session_key or "",
        )
        return (user, principal)
