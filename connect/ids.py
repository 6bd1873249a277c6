"""Random public identifiers: a readable prefix and 128 bits of randomness, never a database id."""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_public_id(prefix: str) -> str:
    raw = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return f"{prefix}_{raw}"


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A bearer secret (invitation token, API key...). Shown once; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def secret_hash(secret: str) -> str:
    """SHA-256 is enough for high-entropy secrets: there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()
