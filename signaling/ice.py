"""ICE servers for browsers and apps: STUN, and TURN with short-lived credentials per the TURN REST convention
(the one coturn's ``use-auth-secret`` checks): username ``"<expiry unix time>:<id>"``, password
``base64(HMAC-SHA1(secret, username))``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credentials(identity: str, *, secret: str | None = None, now: float | None = None) -> tuple[str, str, int]:
    """``(username, password, expires_at)`` for ``identity``; the secret comes from settings."""
    expires_at = int((now or time.time()) + settings.CONNECT_TURN_TTL.total_seconds())
    username = f"{expires_at}:{identity}"
    key = (secret if secret is not None else settings.CONNECT_TURN_SECRET).encode()
    password = base64.b64encode(hmac.new(key, username.encode(), hashlib.sha1).digest()).decode()
    return username, password, expires_at


def ice_servers(identity: str) -> list[dict]:
    """The RTCIceServer list: STUN entries as they are, TURN entries with fresh credentials."""
    servers: list[dict] = []
    if settings.CONNECT_STUN_URLS:
        servers.append({"urls": list(settings.CONNECT_STUN_URLS)})
    if settings.CONNECT_TURN_URLS and settings.CONNECT_TURN_SECRET:
        username, password, _expires = turn_credentials(identity)
        servers.append({"urls": list(settings.CONNECT_TURN_URLS), "username": username, "credential": password})
    return servers
