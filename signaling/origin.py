"""Which WebSocket handshakes may come from where (the first check of every handshake, before authentication).

The ``Origin`` check exists for ambient credentials: a browser sends its session cookie with a handshake that any page
may open, and ``Origin``, which browsers always send on a WebSocket handshake, says which page did.

- A handshake with an ``Origin`` must come from one of the allowed hosts (``ALLOWED_HOSTS``, matched as Channels'
  ``AllowedHostsOriginValidator`` matches them), whatever credential it carries.
- A handshake without one is a native app or a desktop agent. It gets in only with a credential of its own, a bearer
  token (``Authorization``) or a ticket (``?ticket=``), which ``signaling.auth`` then judges alone, never consulting a
  cookie. A cookie is refused without an ``Origin``, and so is a customer token in the URL (a page's). The desktop
  agent, joining a session as its customer, sends its customer token as ``Authorization: Customer cst_...``: a
  credential of its own in a header no browser page can set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.security.websocket import OriginValidator as _ChannelsOriginValidator
from channels.security.websocket import WebsocketDenier
from django.conf import settings


def allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]  # as Django and Channels treat an empty list in debug
    return hosts


def may_omit_origin(scope: dict[str, Any]) -> bool:
    """True for a handshake that presents a bearer token or a ticket, and no customer token."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("customer_token") or query.get("guest_token"):
        return False
    return bool(query.get("ticket")) or any(name == b"authorization" for name, _ in scope.get("headers") or [])


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether this WebSocket handshake may go on to authentication (see the module's docstring)."""
    origins = [value for name, value in scope.get("headers") or [] if name == b"origin"]
    if not origins:
        return may_omit_origin(scope)
    if len(set(origins)) > 1:
        return False  # which one would a browser have meant?
    try:
        parsed = urlparse(origins[0].decode("latin-1"))
        _ = parsed.port  # read only to refuse what is not an origin at all
        return _ChannelsOriginValidator(None, allowed_hosts()).validate_origin(parsed)
    except ValueError:  # "http://[::1", a port past 65535: urllib refuses to read it, and so do we
        return False


class OriginValidator:
    """ASGI middleware: refuses (HTTP 403) a WebSocket handshake :func:`origin_allowed` refuses."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise ValueError("OriginValidator is for WebSocket connections only")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
