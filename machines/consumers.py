"""``/ws/v1/machine``: the socket an enrolled desktop agent keeps open (docs/signaling.md, "The machine socket").

The agent names its machine in the handshake (``Authorization: Machine mch_...``; no ``Origin``: browsers cannot
open it). The server answers a ``challenge`` with a fresh nonce; the agent signs it with the machine's private key and
sends ``auth``. Only then is the machine online: it receives ``session.request`` messages when someone connects to it,
and keeps its presence with ``ping``. A removed machine's socket closes with 4403.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time

from channels.db import database_sync_to_async
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from signaling import protocol
from signaling.consumers import CLOSE_REFUSED, CLOSE_UNAUTHENTICATED, _SignalingSocket
from signaling.protocol import ProtocolError

from . import presence, services
from .models import Machine

logger = logging.getLogger(__name__)

AUTH_TIMEOUT_SECONDS = 10
SEEN_EVERY_SECONDS = 60
# What the machine signs: a context string, the machine's id and the nonce, so a signature answers one challenge of
# one machine on this service only.
SIGNED_CONTEXT = b"bizgaze-connect machine-auth v1\n"


def signed_message(machine_id: str, nonce: str) -> bytes:
    return SIGNED_CONTEXT + machine_id.encode() + b"\n" + nonce.encode()


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class MachineConsumer(_SignalingSocket):
    metrics_socket = "machine"
    machine_id = ""
    organization_pk: int | None = None
    authenticated = False
    seen_at = 0.0

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers") or [])
        kind, _, machine_id = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if b"origin" in headers or kind.lower() != "machine" or not machine_id.strip():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.machine_id = machine_id.strip()[:64]
        self.nonce = secrets.token_urlsafe(32)
        self.limits = protocol.RateLimiter()
        await self.accept()
        await self._send({"type": "challenge", "nonce": self.nonce})
        self.auth_deadline = asyncio.ensure_future(self._close_unless_authenticated())

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_SECONDS)
        if not self.authenticated and not self.closing:
            await self._send({"type": "error", "code": "auth_required", "message": "Sign the challenge first."})
            await self.close(code=CLOSE_UNAUTHENTICATED)

    def _verify(self, signature: str, agent_version: str) -> Machine | None:
        machine = (
            Machine.objects.unscoped("the machine's own socket, identified by its key")
            .select_related("organization")
            .filter(public_id=self.machine_id, removed_at__isnull=True)
            .first()
        )
        if machine is None or not machine.organization.is_active:
            return None
        try:
            key = Ed25519PublicKey.from_public_bytes(_b64decode(machine.public_key))
            key.verify(_b64decode(signature), signed_message(machine.public_id, self.nonce))
        except (InvalidSignature, ValueError):
            return None
        client = self.scope.get("client") or [None]
        services.machine_seen(machine.public_id, ip=client[0], agent_version=agent_version)
        return machine

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closing:
            return
        try:
            self.limits.check("message")
            message = protocol.decode(text_data)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError("malformed")
            kind = message["type"]
            if kind == "auth":
                await self._auth(message)
            elif not self.authenticated:
                raise ProtocolError("not_allowed", "Sign the challenge first.")
            elif kind == "ping":
                await self._heartbeat()
                await self._send({"type": "pong"})
            else:
                raise ProtocolError("unknown_type")
        except ProtocolError as exc:
            await self._refuse(exc)

    async def _auth(self, message: dict) -> None:
        if self.authenticated:
            raise ProtocolError("invalid_state", "Already signed in.")
        self.limits.check("control")
        signature, version = message.get("signature"), message.get("agent_version", "")
        if not isinstance(signature, str) or len(signature) > 200 or not isinstance(version, str):
            raise ProtocolError("invalid_message")
        machine = await database_sync_to_async(self._verify)(signature, version.replace("\x00", ""))
        if machine is None:
            await self._send({"type": "error", "code": "auth_failed", "message": "Unknown machine or bad signature."})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.authenticated = True
        self.auth_deadline.cancel()
        self.organization_pk = machine.organization_id
        self.seen_at = time.monotonic()
        await self.channel_layer.group_add(presence.machine_group(machine.public_id), self.channel_name)
        await presence.machine_connected(machine.public_id, {"org": machine.organization_id})
        await presence.machines_changed_async(machine.organization_id)
        await self._send(
            {
                "type": "hello",
                "machine": {"id": machine.public_id, "name": machine.name},
                "organization": machine.organization.name,
                "heartbeat_seconds": settings.CONNECT_PRESENCE_TTL // 3,
            }
        )

    async def _heartbeat(self) -> None:
        await presence.machine_online(self.machine_id, {"org": self.organization_pk})
        if time.monotonic() - self.seen_at > SEEN_EVERY_SECONDS:
            self.seen_at = time.monotonic()
            still = await database_sync_to_async(self._still_enrolled)()
            if not still:
                await self._removed()

    def _still_enrolled(self) -> bool:
        client = self.scope.get("client") or [None]
        services.machine_seen(self.machine_id, ip=client[0])
        return (
            Machine.objects.unscoped("the machine's own socket, identified by its key")
            .filter(public_id=self.machine_id, removed_at__isnull=True, organization__is_active=True)
            .exists()
        )

    async def machine_message(self, event) -> None:
        message = event["message"]
        if message.get("type") == "machine.removed":
            await self._removed()
            return
        await self._send(message)

    async def _removed(self) -> None:
        await self._send({"type": "error", "code": "machine_removed", "message": "This machine was removed."})
        await self.close(code=CLOSE_REFUSED)

    async def disconnect(self, code) -> None:
        deadline = getattr(self, "auth_deadline", None)
        if deadline is not None:
            deadline.cancel()
        if not self.authenticated:
            return
        await self.channel_layer.group_discard(presence.machine_group(self.machine_id), self.channel_name)
        if await presence.machine_disconnected(self.machine_id):
            await presence.machines_changed_async(self.organization_pk)
