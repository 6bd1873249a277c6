"""WebSocket consumers: a connectivity check, and the signaling of one support session (docs/signaling.md)."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from connect.errors import ApplicationError
from sessions import selectors as session_selectors
from sessions import services as session_services
from sessions.models import FINAL_STATUSES, EndReason, Status

from . import live, protocol
from .protocol import AGENT, CUSTOMER, PROTOCOL_VERSION, ProtocolError

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_ENDED = 4410

# Reconnect grace timers of this process; tests wait for or cancel them.
grace_timers: set[asyncio.Task] = set()


class _NoDatabaseDispatch:
    """Channels runs ``close_old_connections`` in a thread before every message a consumer handles: a thread hop
    per relayed message or heartbeat. These consumers reach the database only through ``database_sync_to_async``,
    which does that itself, so dispatch goes straight to the handler."""

    async def dispatch(self, message):
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class HelloConsumer(_NoDatabaseDispatch, AsyncJsonWebsocketConsumer):
    """``/ws/v1/hello``: a client checks it can reach the WebSocket endpoint and is authenticated; the agents'
    pages keep it open, so a person with a heartbeat here counts as an online agent.

    Answers one ``hello`` message naming the protocol version and the credential, then answers pings.
    Anonymous connections are closed with code 4401.
    """

    # Nothing is ever sent to a presence connection through the channel layer: without one, a connection costs no
    # subscription in Redis and no queue in the process (thousands of agents sit here all day).
    channel_layer_alias = None

    async def connect(self) -> None:
        principal = self.scope.get("principal")
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        user = principal.user
        if user is not None:
            await live.agent_online(user.public_id, {"page": True})
        await self.send_json(
            {
                "type": "hello",
                "v": PROTOCOL_VERSION,
                "auth": principal.kind,
                "user": {"id": user.public_id, "email": user.email} if user else None,
            }
        )

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            principal = self.scope.get("principal")
            if principal is not None and principal.user is not None:
                await live.agent_online(principal.user.public_id, {"page": True})
            await self.send_json({"type": "pong", "v": PROTOCOL_VERSION})


def _peer(role: str) -> str:
    return CUSTOMER if role == AGENT else AGENT


_PROGRESS = {Status.WAITING: 0, Status.CONSENT_REQUESTED: 1, Status.ACTIVE: 2}


def _latest(database_status: str, shared_status: str | None) -> str:
    """The further along of two views of a status (it only moves forward; final statuses are furthest)."""
    if not shared_status:
        return database_status
    rank = lambda status: _PROGRESS.get(status, 3)  # noqa: E731
    return shared_status if rank(shared_status) > rank(database_status) else database_status


class SessionConsumer(_NoDatabaseDispatch, AsyncWebsocketConsumer):
    """``/ws/v1/sessions/<session_id>``: relays SDP, ICE, control and chat between the agent and the customer,
    and enforces the session's state machine. Relaying touches Redis only, never the database."""

    session_id: str
    role: str
    status: str
    sent_seq = 0  # the last seq this connection gave a message to the peer
    delivered_seq = 0
    replayed = (0, 0)  # (after, up to): the seqs the last resume replayed

    # --- connection ------------------------------------------------------------------------------------

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        customer_token = (query.get("customer_token") or [None])[0]
        principal = self.scope.get("principal")
        if not customer_token and principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Join the session's group before reading its status, so no change committed meanwhile goes unseen.
        await self.channel_layer.group_add(live.session_group(self.session_id), self.channel_name)
        try:
            session, self.role, self.actor = await database_sync_to_async(self._authorize)(principal, customer_token)
        except ApplicationError:
            await self.channel_layer.group_discard(live.session_group(self.session_id), self.channel_name)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.status = _latest(session.status, await live.status(self.session_id))
        self.peer_role = _peer(self.role)
        await self.accept()
        if self.status in FINAL_STATUSES:
            await self._leave_groups()
            await self.send(
                text_data=json.dumps(
                    {
                        "v": PROTOCOL_VERSION,
                        "type": "error",
                        "code": "session_ended",
                        "message": protocol.ERROR_CODES["session_ended"],
                    }
                )
            )
            await self.close(code=CLOSE_ENDED)
            return
        await self.channel_layer.group_add(live.party_group(self.session_id, self.role), self.channel_name)
        await live.seed_status(self.session_id, session.status)
        self.epoch = await live.store().incr(f"live:session:{self.session_id}:epoch:{self.role}")
        self.sent_seq = await live.last_seq(self.session_id, self.peer_role)  # numbering never goes back
        self.delivered_seq = 0  # the last seq this connection passed to its client (a resume raises it)
        await self._mark_present()
        peer = await live.presence_get(self.session_id, self.peer_role)
        await self._send(
            {
                "type": "hello",
                "role": self.role,
                "session": {
                    "id": session.public_id,
                    "status": self.status,
                    "organization": session.organization.name,
                    "agent": session.agent.get_full_name(),
                    "customer": session.customer_name,
                },
                "seq": await live.last_seq(self.session_id, self.role),
                "peer_online": bool(peer and peer.get("online")),
                "heartbeat_seconds": settings.CONNECT_PRESENCE_TTL // 3,
            }
        )
        await self._tell_peer_presence(online=True)

    def _authorize(self, principal, customer_token):
        from sessions.services import Actor

        client = self.scope.get("client") or [None]
        user_agent = dict(self.scope.get("headers") or []).get(b"user-agent", b"").decode("latin-1")[:300]
        if customer_token:
            session = session_services.session_for_customer(self.session_id, customer_token)
            return (
                session,
                CUSTOMER,
                Actor(kind=CUSTOMER, ip=client[0], user_agent=user_agent, label=session.customer_name or "customer"),
            )
        session = session_selectors.session_for_agent(principal, self.session_id)
        return session, AGENT, Actor(kind=AGENT, user=principal.user, ip=client[0], user_agent=user_agent)

    async def disconnect(self, code) -> None:
        self.closing = True
        if not hasattr(self, "epoch"):
            return
        await live.presence_set(self.session_id, self.role, online=False, epoch=self.epoch)
        await self._tell_peer_presence(online=False)
        if self.status not in FINAL_STATUSES and settings.CONNECT_RECONNECT_GRACE >= 0:
            task = asyncio.create_task(_end_if_still_gone(self.session_id, self.role, self.epoch, self.actor))
            grace_timers.add(task)
            task.add_done_callback(grace_timers.discard)

    # --- from the client -------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        try:
            if text_data is None:
                raise ProtocolError("malformed", "Send JSON text frames.")
            if len(text_data) > protocol.MAX_MESSAGE_BYTES:
                raise ProtocolError("too_large")
            try:
                message = json.loads(text_data)
            except ValueError:
                raise ProtocolError("malformed") from None
            if self.status != Status.ACTIVE:  # anything but the hot path: take the further of the two views
                self.status = _latest(self.status, await live.status(self.session_id))
            kind, fields = protocol.parse(message, self.role, self.status)
            await self._handle(kind, fields)
        except ProtocolError as exc:
            await self._send({"type": "error", "code": exc.code, "message": exc.message})
        except ApplicationError as exc:
            await self._send({"type": "error", "code": "invalid_state", "message": exc.message})

    async def _handle(self, kind: protocol.MessageType, fields: dict) -> None:
        name = kind.name
        if name == "ping":
            await self._mark_present()
            await self._send({"type": "pong"})
        elif name == "resume":
            await self._resume(fields["last_seq"])
        elif name in ("consent.grant", "consent.decline", "consent.revoke", "end"):
            await database_sync_to_async(self._transition)(name)
        else:
            if name.startswith("control.") or name == "chat":
                await database_sync_to_async(self._record)(name, fields)
            await self._relay(name, fields)

    def _transition(self, name: str) -> None:
        from sessions.models import SupportSession

        session = SupportSession.objects.select_related("organization", "agent").get(public_id=self.session_id)
        if name == "consent.grant":
            session_services.session_grant_consent(session=session, actor=self.actor)
        elif name == "consent.decline":
            session_services.session_decline(session=session, actor=self.actor)
        elif name == "consent.revoke":
            session_services.session_revoke_consent(session=session, actor=self.actor)
        else:
            session_services.session_end(session=session, actor=self.actor)

    def _record(self, name: str, fields: dict) -> None:
        from sessions.models import SupportSession

        session = SupportSession.objects.select_related("organization").get(public_id=self.session_id)
        data = {"text": fields["text"]} if name == "chat" else {}
        session_services.record(session=session, actor=self.actor, event=name.replace(".", "_"), data=data)

    async def _relay(self, name: str, fields: dict) -> None:
        self.sent_seq = await live.relay(
            self.session_id,
            self.peer_role,
            {"v": PROTOCOL_VERSION, "type": name, "from": self.role, **fields},
            floor=self.sent_seq,
        )

    async def _resume(self, last_seq: int) -> None:
        if self.delivered_seq > last_seq:
            # Messages published since this connection opened overtook the resume: the client would drop the
            # older ones a replay sends now as already seen. It renegotiates instead.
            await self._send({"type": "resync", "seq": self.delivered_seq})
            return
        self.delivered_seq = last_seq
        missed = await live.replay_after(self.session_id, self.role, last_seq)
        if missed is None:
            self.delivered_seq = await live.last_seq(self.session_id, self.role)
            await self._send({"type": "resync", "seq": self.delivered_seq})
            return
        for message in missed:
            self.delivered_seq = max(self.delivered_seq, message["seq"])
            await self.send(text_data=json.dumps(message))
        if missed:
            self.replayed = (last_seq, missed[-1]["seq"])

    # --- from the channel layer ------------------------------------------------------------------------

    async def relay_message(self, event) -> None:
        if getattr(self, "closing", False):
            return
        if self.replayed[0] < event["seq"] <= self.replayed[1]:
            return  # published while the client was away and already replayed to it: the client has it
        if event["seq"] <= self.delivered_seq:
            # Numbering began again below what this client has seen (Redis restarted empty while the sender
            # reconnected): the client would drop this as already seen. Numbering continues above, and the client
            # renegotiates what it missed.
            await live.continue_after(self.session_id, self.role, self.delivered_seq)
            await self._send({"type": "resync", "seq": self.delivered_seq})
            return
        self.delivered_seq = event["seq"]
        await self.send(text_data=event["text"])  # serialized once, by the sender's process

    async def session_state(self, event) -> None:
        self.status = event["status"]
        await self._send({"type": "state", "status": event["status"], "end_reason": event["end_reason"]})
        if event["status"] in FINAL_STATUSES:
            await self._leave_groups()
            await self.close(code=CLOSE_ENDED)

    async def peer_presence(self, event) -> None:
        if event["role"] != self.role:
            await self._send({"type": "peer", "role": event["role"], "online": event["online"]})

    async def _tell_peer_presence(self, *, online: bool) -> None:
        await self.channel_layer.group_send(
            live.session_group(self.session_id), {"type": "peer.presence", "role": self.role, "online": online}
        )

    async def _mark_present(self) -> None:
        """Presence of this party in the session, and of the person as an online agent; both expire unless the
        client's heartbeat renews them."""
        await live.presence_set(self.session_id, self.role, online=True, epoch=self.epoch)
        if self.role == AGENT and self.actor.user is not None:
            await live.agent_online(self.actor.user.public_id, {"session": self.session_id})

    async def _leave_groups(self) -> None:
        """Stop receiving group messages at once: nothing may be sent on a socket that is closing."""
        self.closing = True
        for group in (live.session_group(self.session_id), live.party_group(self.session_id, self.role)):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _send(self, message: dict) -> None:
        if getattr(self, "closing", False):
            return
        await self.send(text_data=json.dumps({"v": PROTOCOL_VERSION, **message}))


async def _end_if_still_gone(session_id: str, role: str, epoch: int, actor) -> None:
    """After the reconnect grace period, end the session as disconnected unless the party came back."""
    logger.info(
        "session %s: %s dropped; ending in %s s unless it returns", session_id, role, settings.CONNECT_RECONNECT_GRACE
    )
    await asyncio.sleep(settings.CONNECT_RECONNECT_GRACE)
    presence = await live.presence_get(session_id, role)
    if presence and (presence.get("online") or presence.get("epoch", 0) > epoch):
        return
    if await live.status(session_id) in FINAL_STATUSES:
        return

    def end() -> None:
        from sessions.models import SupportSession

        session = SupportSession.objects.select_related("organization", "agent").filter(public_id=session_id).first()
        if session is not None and session.is_live:
            session_services.session_end(session=session, actor=actor, reason=EndReason.DISCONNECTED)

    try:
        await database_sync_to_async(end)()
    except ApplicationError:
        logger.info("session %s changed before the grace period ended", session_id)
