"""Live-session state shared by every server process: statuses, per-recipient sequence numbers, a replay buffer
for reconnecting clients, presence with heartbeats, and online agents.

With ``REDIS_URL`` set it lives in Redis, so the agent and the customer may be served by different processes and a
restarted process loses nothing. Without it (embedded mode: one process) an in-memory store stands in.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

REPLAY_BUFFER = 200  # messages kept per recipient for resync after a reconnect
STATE_TTL = 24 * 3600
LIVE_REDIS_CONNECTIONS = 32  # per server process


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def party_group(session_id: str, role: str) -> str:
    return f"session.{session_id}.{role}"


class MemoryStore:
    """Embedded mode only: one process, so process memory is the shared state."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[Any, float]] = {}
        self._lists: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()

    def _alive(self, key: str) -> Any:
        value = self._values.get(key)
        if value is None or (value[1] and value[1] < time.monotonic()):
            self._values.pop(key, None)
            return None
        return value[0]

    async def get(self, key: str) -> Any:
        return self._alive(key)

    async def set(self, key: str, value: Any, ttl: int = STATE_TTL) -> None:
        self._values[key] = (value, time.monotonic() + ttl if ttl else 0)

    async def add(self, key: str, value: Any, ttl: int = STATE_TTL) -> bool:
        if self._alive(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str) -> int:
        async with self._lock:
            value = int(self._alive(key) or 0) + 1
            self._values[key] = (value, time.monotonic() + STATE_TTL)
            return value

    async def decr(self, key: str) -> int:
        async with self._lock:
            value = int(self._alive(key) or 0) - 1
            self._values[key] = (value, time.monotonic() + STATE_TTL)
            return value

    async def push(self, key: str, item: str) -> None:
        items = self._lists.setdefault(key, [])
        items.append(item)
        del items[:-REPLAY_BUFFER]

    async def items(self, key: str) -> list[str]:
        return list(self._lists.get(key, []))

    async def stamp(self, seq_key: str, buffer_key: str, prefix: str, floor: int) -> tuple[int, str]:
        async with self._lock:
            seq = max(int(self._alive(seq_key) or 0), floor) + 1
            self._values[seq_key] = (seq, time.monotonic() + STATE_TTL)
        text = f"{prefix}{seq}}}"
        await self.push(buffer_key, text)
        return seq, text

    async def raise_to(self, key: str, value: int) -> None:
        async with self._lock:
            if int(self._alive(key) or 0) < value:
                self._values[key] = (value, time.monotonic() + STATE_TTL)

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        return [k for k in list(self._values) if k.startswith(prefix) and self._alive(k) is not None]


# Relaying a message is one round trip to Redis, as in the bare relay this is measured against (docs/performance.md):
# - the next sequence number, never below what the sender has already used (so a Redis that restarted empty cannot
#   make numbers go back, which clients would drop as already seen);
# - the message, completed with it, appended to the recipient's replay buffer;
# - PUBLISHed on the channel layer's channel for the recipient's group, serialized as channels-redis's pub/sub layer
#   serializes a group message (msgpack, no encryption): the recipient's consumer gets an ordinary "relay.message".
# KEYS: sequence, buffer. ARGV: floor, message JSON up to its "seq" value, buffer length, TTL, channel ('' for none).
_STAMP = """
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local text = ARGV[2] .. seq .. '}'
redis.call('RPUSH', KEYS[2], text)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[5], cmsgpack.pack({type = 'relay.message', text = text, seq = seq}))
end
return seq
"""

_RAISE_TO = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
"""


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        # A blocking pool: a burst (thousands of sockets closing at once, say) waits for one of these connections
        # instead of failing with "Too many connections", which the default pool raises past 100. It waits as long
        # as it takes: under a backlog (make bench, workload A at N=2000) a 10 s limit failed relays and dropped
        # their connections; a Redis that is down fails each command at once, and frees its connection.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=LIVE_REDIS_CONNECTIONS, timeout=None, decode_responses=True, health_check_interval=30
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        # redis-py sends EVALSHA, and loads the script again if a restarted Redis no longer knows it.
        self._stamp = self._redis.register_script(_STAMP)
        self._raise_to = self._redis.register_script(_RAISE_TO)

    async def get(self, key: str) -> Any:
        raw = await self._redis.get(key)
        return json.loads(raw) if raw is not None else None

    async def set(self, key: str, value: Any, ttl: int = STATE_TTL) -> None:
        await self._redis.set(key, json.dumps(value), ex=ttl or None)

    async def add(self, key: str, value: Any, ttl: int = STATE_TTL) -> bool:
        return bool(await self._redis.set(key, json.dumps(value), ex=ttl or None, nx=True))

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def incr(self, key: str) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, STATE_TTL)
            value, _ = await pipe.execute()
        return int(value)

    async def decr(self, key: str) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.decr(key)
            pipe.expire(key, STATE_TTL)
            value, _ = await pipe.execute()
        return int(value)

    async def items(self, key: str) -> list[str]:
        return await self._redis.lrange(key, 0, -1)

    async def stamp(self, seq_key: str, buffer_key: str, prefix: str, floor: int, channel: str = "") -> tuple[int, str]:
        seq = await self._stamp(keys=[seq_key, buffer_key], args=[floor, prefix, REPLAY_BUFFER, STATE_TTL, channel])
        return int(seq), f"{prefix}{seq}}}"

    async def raise_to(self, key: str, value: int) -> None:
        await self._raise_to(keys=[key], args=[value, STATE_TTL])

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        return [key async for key in self._redis.scan_iter(match=prefix + "*", count=500)]


_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_memory = MemoryStore()


def store() -> MemoryStore | RedisStore:
    """One store per event loop: a Redis connection pool belongs to the loop that made it."""
    if not settings.REDIS_URL:
        return _memory
    loop = asyncio.get_running_loop()
    if loop not in _stores:
        _stores[loop] = RedisStore(settings.REDIS_URL)
    return _stores[loop]


def _set_status_sync(session_id: str, value: str) -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.set(_status_key(session_id), json.dumps(value), ex=STATE_TTL)
        finally:
            client.close()
    else:
        _memory._values[_status_key(session_id)] = (value, time.monotonic() + STATE_TTL)


def _status_key(session_id: str) -> str:
    return f"live:session:{session_id}:status"


def _seq_key(session_id: str, role: str) -> str:
    return f"live:session:{session_id}:seq:{role}"


def _buffer_key(session_id: str, role: str) -> str:
    return f"live:session:{session_id}:buffer:{role}"


def _presence_key(session_id: str, role: str) -> str:
    return f"live:session:{session_id}:presence:{role}"


def _agent_key(user_public_id: str) -> str:
    return f"live:agent:{user_public_id}"


async def status(session_id: str) -> str | None:
    return await store().get(_status_key(session_id))


async def seed_status(session_id: str, value: str) -> None:
    """Record a status read from the database unless one is recorded already: a transition committed since the
    read has written a newer one, and only transitions may overwrite."""
    await store().add(_status_key(session_id), value)


async def relay(session_id: str, role: str, message: dict[str, Any], *, floor: int = 0) -> int:
    """Give ``message`` the next sequence number for ``role`` (above ``floor``: the last one this sender used), keep
    it for replay, and deliver it to ``role``'s connections as a ``relay.message`` event carrying the JSON text
    (serialized once). Returns the sequence number."""
    prefix = json.dumps(message, separators=(",", ":"))[:-1] + ',"seq":'
    keys = _seq_key(session_id, role), _buffer_key(session_id, role)
    layer = get_channel_layer()
    if settings.REDIS_URL and isinstance(layer, RedisPubSubChannelLayer):
        channel = layer._get_group_channel_name(party_group(session_id, role))
        seq, _ = await store().stamp(*keys, prefix, floor, channel)
        return seq
    seq, text = await store().stamp(*keys, prefix, floor)
    await layer.group_send(party_group(session_id, role), {"type": "relay.message", "text": text, "seq": seq})
    return seq


async def continue_after(session_id: str, role: str, seq: int) -> None:
    """Numbering for ``role`` goes on above ``seq`` (which a client has seen, though the store no longer knows it)."""
    await store().raise_to(_seq_key(session_id, role), seq)


async def last_seq(session_id: str, role: str) -> int:
    return int(await store().get(_seq_key(session_id, role)) or 0)


async def replay_after(session_id: str, role: str, seq: int) -> list[dict[str, Any]] | None:
    """Messages for ``role`` after ``seq``, or ``None`` when the buffer no longer reaches back that far."""
    messages = [json.loads(raw) for raw in await store().items(_buffer_key(session_id, role))]
    newest = await last_seq(session_id, role)
    if seq > newest:
        # The client has seen numbers the store no longer knows: Redis restarted empty. Numbering continues above
        # the client's, so what follows is not dropped as already seen; what was lost must be renegotiated.
        await continue_after(session_id, role, seq)
        return None
    if seq == newest:
        return []
    if not messages or messages[0]["seq"] > seq + 1:
        return None
    return [m for m in messages if m["seq"] > seq]


async def presence_set(session_id: str, role: str, *, online: bool, epoch: int) -> None:
    ttl = settings.CONNECT_PRESENCE_TTL if online else settings.CONNECT_RECONNECT_GRACE + 60
    await store().set(_presence_key(session_id, role), {"online": online, "epoch": epoch, "at": time.time()}, ttl)


async def presence_get(session_id: str, role: str) -> dict[str, Any] | None:
    return await store().get(_presence_key(session_id, role))


async def agent_online(user_public_id: str, info: dict[str, Any]) -> None:
    await store().set(_agent_key(user_public_id), {**info, "at": time.time()}, settings.CONNECT_PRESENCE_TTL)


async def online_agents(user_public_ids: list[str]) -> set[str]:
    found = set()
    for public_id in user_public_ids:
        if await store().get(_agent_key(public_id)) is not None:
            found.add(public_id)
    return found


def session_changed(session_id: str, status_value: str, end_reason: str = "") -> None:
    """Called after a transition commits: record the status and tell both ends (from synchronous code)."""

    _set_status_sync(session_id, status_value)
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            session_group(session_id), {"type": "session.state", "status": status_value, "end_reason": end_reason}
        )


def session_time_limit_near(session_id: str, ends_at: str) -> None:
    """The plan's session length ends this session at ``ends_at`` (ISO 8601): tell both ends, from synchronous code."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(session_group(session_id), {"type": "session.limit", "ends_at": ends_at})


def session_recording(session_id: str, *, state: str, recording_id: str) -> None:
    """A recording of the session started or stopped: both ends show it (the customer's indicator), from synchronous
    code after the change commits."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            session_group(session_id), {"type": "session.recording", "state": state, "recording": recording_id}
        )


def session_transferred(session_id: str, *, from_agent_id: str, to_agent_id: str, to_agent_name: str) -> None:
    """Called after a transfer commits: the agent's side starts afresh (the new agent has not connected yet, so the
    previous agent's leaving must not count as the agent gone), and both ends are told (from synchronous code)."""
    for key in (f"live:session:{session_id}:epoch:{AGENT_ROLE}", _presence_key(session_id, AGENT_ROLE)):
        _delete_sync(key)
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            session_group(session_id),
            {
                "type": "session.transferred",
                "from_agent_id": from_agent_id,
                "to_agent_id": to_agent_id,
                "to_agent_name": to_agent_name,
            },
        )


AGENT_ROLE = "agent"


def _delete_sync(key: str) -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.delete(key)
        finally:
            client.close()
    else:
        _memory._values.pop(key, None)


def keys_alive_sync(keys: list[str]) -> list[bool]:
    """Whether each presence key is set and unexpired (from synchronous code: server-rendered pages, services)."""
    if not keys:
        return []
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            values = client.mget(keys)
        finally:
            client.close()
        return [value is not None for value in values]
    return [_memory._alive(key) is not None for key in keys]


def online_agents_sync(user_public_ids: list[str]) -> set[str]:
    """Which of these agents hold a live connection (for server-rendered pages)."""
    alive = keys_alive_sync([_agent_key(public_id) for public_id in user_public_ids])
    return {pid for pid, up in zip(user_public_ids, alive, strict=True) if up}


def _get_sync(key: str) -> Any:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        try:
            raw = client.get(key)
        finally:
            client.close()
        return json.loads(raw) if raw is not None else None
    return _memory._alive(key)


def party_gone_sync(session_id: str, role: str) -> bool:
    """True when ``role`` connected to the session at some point and has now been gone past the grace period:
    it dropped and did not return, or its server process died and its heartbeat ran out."""
    if _get_sync(f"live:session:{session_id}:epoch:{role}") is None:
        return False  # never connected: nothing to judge
    presence = _get_sync(_presence_key(session_id, role))
    if presence is None:
        return True
    return not presence.get("online") and time.time() - presence.get("at", 0) > settings.CONNECT_RECONNECT_GRACE


# --- The organization's live socket (signaling.org_live): hints, and agents coming and going ----------------------


def org_group(organization_pk: int) -> str:
    return f"org.{organization_pk}.live"


def org_hint_sync(organization_pk: int, hint: dict[str, Any], *, agents: list[str] | None = None) -> None:
    """Send ``hint`` to the organization's live sockets (from synchronous code, after commit). With ``agents``
    (public ids), a socket of an agent who sees only their own sessions gets it only when it names them."""
    layer = get_channel_layer()
    if layer is not None:
        message = {"type": "org.hint", "hint": hint, "agents": agents}
        async_to_sync(layer.group_send)(org_group(organization_pk), message)


def _agent_connections_key(user_public_id: str) -> str:
    return f"live:agent:{user_public_id}:connections"


async def agent_connected(user_public_id: str, info: dict[str, Any]) -> bool:
    """A presence socket of this agent opened; True when that made them online (they were not)."""
    was_online = await store().get(_agent_key(user_public_id)) is not None
    await store().incr(_agent_connections_key(user_public_id))
    await agent_online(user_public_id, info)
    return not was_online


async def agent_disconnected(user_public_id: str) -> bool:
    """A presence socket of this agent closed; when it was their last one they are offline at once (True), rather
    than when their heartbeat runs out. A count left high by a process that died only delays that to the TTL."""
    if await store().decr(_agent_connections_key(user_public_id)) > 0:
        return False
    await store().delete(_agent_connections_key(user_public_id))
    await store().delete(_agent_key(user_public_id))
    return True
