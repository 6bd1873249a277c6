"""Closing open sockets whose credential ended: a revoked API key, a signed-out device, a revoked OAuth2 token, a
removed member, a requirement their person no longer meets.

Every change that ends or narrows a credential is announced (``orgs.access.announce``) to one channel-layer group.
Each server process listens to it once, through one channel of its own (one subscription per process, not one per
socket: thousands of agents hold idle sockets all day), and looks the announced keys up among the sockets *it*
holds; each of those re-checks its credential with the same rule that admitted it and closes if refused.

The registry is process-local on purpose: it lists this process's sockets, which no other process could close.
The pub/sub layer delivers at most once, so an announcement lost while Redis restarts is caught by the sockets'
periodic re-check (``RECHECK_SECONDS``, on their heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, Protocol

from channels.layers import get_channel_layer

from orgs.access import REVOCATION_GROUP

logger = logging.getLogger(__name__)

# An open socket re-checks its credential at most this often on its own, whatever was announced.
RECHECK_SECONDS = 300


class Revocable(Protocol):
    async def revalidate(self) -> None: ...


_sockets: dict[str, set[Any]] = defaultdict(set)
_keys_of: dict[int, set[str]] = {}
_listener: dict[str, Any] = {}  # {"task": asyncio.Task, "loop": the loop it runs on}


def register(consumer: Revocable, keys: set[str]) -> None:
    """``consumer`` holds a socket opened with credentials under ``keys``; re-check it when one is announced."""
    _keys_of[id(consumer)] = set(keys)
    for key in keys:
        _sockets[key].add(consumer)
    _ensure_listener()


def unregister(consumer: Revocable) -> None:
    for key in _keys_of.pop(id(consumer), ()):
        holders = _sockets.get(key)
        if holders is not None:
            holders.discard(consumer)
            if not holders:
                del _sockets[key]


def held(keys: list[str]) -> set[Any]:
    """The sockets of this process concerned by ``keys``."""
    return {consumer for key in keys for consumer in _sockets.get(key, ())}


def _ensure_listener() -> None:
    loop = asyncio.get_running_loop()
    task = _listener.get("task")
    if task is not None and not task.done() and _listener.get("loop") is loop:
        return
    _listener["loop"] = loop
    _listener["task"] = loop.create_task(_listen())


async def _listen() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    channel = await layer.new_channel("access-revocations.")
    await layer.group_add(REVOCATION_GROUP, channel)
    try:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis went away: keep listening once it is back
                logger.warning("revocation listener lost the channel layer; retrying", exc_info=True)
                await asyncio.sleep(1)
                await layer.group_add(REVOCATION_GROUP, channel)
                continue
            await dispatch(message.get("keys") or [])
    finally:
        try:
            await layer.group_discard(REVOCATION_GROUP, channel)
        except Exception:  # noqa: BLE001 - shutting down
            logger.debug("could not leave the revocation group", exc_info=True)


async def dispatch(keys: list[str]) -> None:
    """Have every socket of this process concerned by ``keys`` re-check its credential."""
    consumers = held(keys)
    if consumers:
        await asyncio.gather(*(consumer.revalidate() for consumer in consumers), return_exceptions=True)
