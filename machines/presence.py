"""Which machines are online (a key per machine in the shared store, kept alive by the agent's heartbeat), and how the
server reaches a machine's socket (a channel-layer group per machine, on whichever process holds the socket)."""

from __future__ import annotations

import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from signaling import live

logger = logging.getLogger(__name__)


def machine_group(public_id: str) -> str:
    return f"machine.{public_id}"


def _key(public_id: str) -> str:
    return f"live:machine:{public_id}"


async def machine_online(public_id: str, info: dict[str, Any]) -> None:
    await live.store().set(_key(public_id), {**info, "at": time.time()}, settings.CONNECT_PRESENCE_TTL)


async def machine_connected(public_id: str, info: dict[str, Any]) -> None:
    await live.store().incr(_key(public_id) + ":connections")
    await machine_online(public_id, info)


async def machine_disconnected(public_id: str) -> bool:
    """A socket of this machine closed; True when it was its last (an agent that reconnected before its old socket
    closed stays online). A count left high by a process that died only delays "offline" to the heartbeat's TTL."""
    if await live.store().decr(_key(public_id) + ":connections") > 0:
        return False
    await live.store().delete(_key(public_id) + ":connections")
    await live.store().delete(_key(public_id))
    return True


def machine_online_sync(public_id: str) -> bool:
    return live.keys_alive_sync([_key(public_id)])[0]


def online_machines_sync(public_ids: list[str]) -> set[str]:
    alive = live.keys_alive_sync([_key(public_id) for public_id in public_ids])
    return {pid for pid, up in zip(public_ids, alive, strict=True) if up}


def tell_machine(public_id: str, message: dict[str, Any]) -> None:
    """Send ``message`` to the machine's socket (from synchronous code, after commit)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(machine_group(public_id), {"type": "machine.message", "message": message})


def machines_changed(organization_pk: int) -> None:
    """Hint the organization's live pages that a machine came, went or changed (they refetch the list)."""
    try:
        live.org_hint_sync(organization_pk, {"type": "machines.changed"})
    except Exception:  # noqa: BLE001 - a lost hint costs a stale list until the next one
        logger.warning("could not hint that machines of %s changed", organization_pk, exc_info=True)


async def machines_changed_async(organization_pk: int) -> None:
    layer = get_channel_layer()
    try:
        await layer.group_send(
            live.org_group(organization_pk),
            {"type": "org.hint", "hint": {"type": "machines.changed"}, "agents": None},
        )
    except Exception:  # noqa: BLE001
        logger.warning("could not hint that machines of %s changed", organization_pk, exc_info=True)
