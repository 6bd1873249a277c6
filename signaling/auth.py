"""WebSocket authentication through the same access layer as the API.

A connection is authenticated by, in order:
1. ``?ticket=wst_...``: a single-use ticket from ``POST /api/v1/ws-ticket`` that expires within a minute, so
   long-lived tokens never travel in URLs (which end up in logs);
2. ``Authorization: Bearer ...``: native apps and integrations, exactly as on the API;
3. the browser's session cookie, which counts only once its two-factor step is done.

The result is ``scope["principal"]`` (an :class:`orgs.tenancy.Principal`, or ``None``) and ``scope["user"]``.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from connect.api.authentication import principal_from_bearer
from connect.errors import ApplicationError
from connect.ids import secret_hash
from orgs.access import Assurance, person_refusal, principal_refusal, session_assurance
from orgs.mfa import has_confirmed_device
from orgs.models import Organization, User
from orgs.tenancy import Principal

TICKET_PREFIX = "wst"


def _ticket_key(ticket: str) -> str:
    return f"ws-ticket:{secret_hash(ticket)}"


def ws_ticket_issue(principal: Principal) -> str:
    """A single-use ticket standing for ``principal`` for ``CONNECT_WS_TICKET_SECONDS``."""
    ticket = f"{TICKET_PREFIX}_{secrets.token_urlsafe(24)}"
    payload = {
        "kind": principal.kind,
        "user": principal.user.pk if principal.user else None,
        "organization": principal.organization.pk if principal.organization else None,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
        "credential_id": principal.credential_id,
        "token_id": principal.token_id,
        "assurance": principal.assurance.as_dict() if principal.assurance is not None else None,
        "session_key": principal.session_key,
    }
    cache.set(_ticket_key(ticket), payload, settings.CONNECT_WS_TICKET_SECONDS)
    return ticket


def ws_ticket_redeem(ticket: str) -> Principal | None:
    """The principal behind a ticket, once. Of two concurrent redemptions only one deletes the key and wins."""
    key = _ticket_key(ticket)
    payload = cache.get(key)
    if payload is None or not cache.delete(key):
        return None
    user = User.objects.filter(pk=payload["user"], is_active=True).first() if payload["user"] else None
    organization = Organization.objects.filter(pk=payload["organization"]).first() if payload["organization"] else None
    if (payload["user"] and user is None) or (payload["organization"] and organization is None):
        return None
    scopes = frozenset(payload["scopes"]) if payload["scopes"] is not None else None
    assurance = Assurance.from_dict(payload["assurance"]) if payload.get("assurance") is not None else None
    principal = Principal(
        payload["kind"],
        user,
        organization,
        scopes,
        payload["credential_id"],
        payload.get("token_id"),
        assurance,
        payload.get("session_key") or "",
    )
    # The credential that asked for the ticket may have been revoked, or its person refused, since.
    if principal_refusal(principal) is not None:
        return None
    return principal


def _session_principal(user, session) -> Principal | None:
    if user is None or not user.is_authenticated:
        return None
    assurance = session_assurance(user, session)
    if has_confirmed_device(user) and not assurance.second_factor:
        return None  # signed in with a password but the two-factor step is not done
    if person_refusal(user, assurance) is not None:
        return None  # the same rule as orgs.access.CookieAccessMiddleware: the cookie may not act now
    return Principal(
        "session",
        user=user,
        credential_id=f"user:{user.public_id}",
        assurance=assurance,
        session_key=getattr(session, "session_key", None) or "",
    )


class WebSocketAuthMiddleware:
    """Authenticates a WebSocket connection into ``scope["principal"]`` and ``scope["user"]``.

    A connection that presents a ticket, a bearer token or a customer's session token is judged by that alone. Only
    one presenting none of them (a browser page) goes through Channels' ``AuthMiddlewareStack``, which resolves the
    cookie session and keeps the session and user objects for the connection's whole life: native apps and desktop
    agents, which hold most long-lived connections, do not pay for it (docs/performance.md, workload B).
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cookie_stack = AuthMiddlewareStack(_CookieAuthMiddleware(inner))

    async def __call__(self, scope, receive, send):
        # Nothing parsed here stays referenced: this frame lives as long as the connection.
        if not _presents_credentials(scope):
            return await self.cookie_stack(scope, receive, send)
        principal = await database_sync_to_async(_credential_principal)(scope)
        return await self.inner(_with_principal(scope, principal), receive, send)


class _CookieAuthMiddleware(BaseMiddleware):
    """Inside ``AuthMiddlewareStack``: the browser's session, once its two-factor step is done."""

    async def __call__(self, scope, receive, send):
        principal = await database_sync_to_async(_session_principal)(scope.get("user"), scope.get("session"))
        return await self.inner(_with_principal(scope, principal), receive, send)


def _with_principal(scope, principal: Principal | None) -> dict:
    return {
        **scope,
        "principal": principal,
        "user": principal.user if principal and principal.user else AnonymousUser(),
    }


def _presents_credentials(scope) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return bool(
        query.get("ticket")
        or query.get("customer_token")
        or query.get("guest_token")
        or any(name == b"authorization" for name, _ in scope.get("headers") or [])
    )


def _credential_principal(scope) -> Principal | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    headers = dict(scope.get("headers") or [])
    ticket = (query.get("ticket") or [None])[0]
    if ticket:
        return ws_ticket_redeem(ticket)
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization:
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token:
            return None
        try:
            client = scope.get("client") or [None]
            return principal_from_bearer(token.strip(), ip=client[0])
        except ApplicationError:
            return None
    return None  # a customer: the consumer checks the customer token against the session
