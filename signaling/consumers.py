"""WebSocket consumers: a connectivity check, and the signaling of one support session (docs/signaling.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from connect import metrics
from connect.errors import ApplicationError
from orgs.access import principal_refusal, socket_keys
from sessions import selectors as session_selectors
from sessions import services as session_services
from sessions.models import FINAL_STATUSES, EndReason, Status

from . import live, protocol, revocation
from .protocol import AGENT, CUSTOMER, PROTOCOL_VERSION, ProtocolError

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_REFUSED = 4403  # the credential was revoked, or its person may no longer act (docs/signaling.md)
CLOSE_NOT_FOUND = 4404
CLOSE_ENDED = 4410
CLOSE_INTERNAL_ERROR = 1011

# Reconnect grace timers of this process; tests wait for or cancel them.
grace_timers: set[asyncio.Task] = set()


class _SignalingSocket(AsyncWebsocketConsumer):
    """What both consumers share: how messages are dispatched, answered, refused and closed.

    - Channels runs ``close_old_connections`` in a thread before every message a consumer handles: a thread hop per
      relayed message or heartbeat. These consumers reach the database only through ``database_sync_to_async``, which
      does that itself, so dispatch goes straight to the handler.
    - No exception leaves a handler. Left to Channels, it would end the application: uvicorn then drops the TCP
      connection without a close frame, and ``disconnect`` never runs (nor when a send fails because the client is
      already gone), so the peer would never be told and the session would stay active. Instead the socket is closed
      with 1011 and the disconnect logic runs at once.
    - ``disconnect`` runs exactly once, whichever comes first: the client's close, the server's, or a failure.
    """

    closing = False  # set once the connection is closing: nothing more is sent on it, no frame is handled
    _disconnected = False
    metrics_socket = "other"  # this socket's label in connect_websocket_connections (connect.metrics)
    _counted = False

    async def dispatch(self, message) -> None:
        try:
            handler = getattr(self, message["type"].replace(".", "_"), None)
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']}")
            await handler(message)
        except StopConsumer:
            raise
        except Exception as exc:
            if isinstance(exc, OSError):  # uvicorn's ClientDisconnected: the client went before its close arrived
                logger.info("%s: client gone during %s", type(self).__name__, message.get("type"))
            else:
                logger.exception("%s: %s failed; closing with 1011", type(self).__name__, message.get("type"))
            try:
                await self.close(code=CLOSE_INTERNAL_ERROR)
            except Exception:  # noqa: BLE001, S110  (already closed, or the client is gone: nothing left to tell it)
                pass
            await self._disconnect_once(CLOSE_INTERNAL_ERROR)
            raise StopConsumer from None

    async def websocket_disconnect(self, message) -> None:
        await self._disconnect_once(message.get("code", 1005))
        raise StopConsumer

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol=subprotocol, headers=headers)
        if not self._counted:
            self._counted = True
            metrics.socket_opened(self.metrics_socket)

    async def _disconnect_once(self, code: int) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        self.closing = True
        if self._counted:
            metrics.socket_closed(self.metrics_socket)
        try:
            await self.disconnect(code)
        except Exception:
            logger.exception("%s: disconnect failed", type(self).__name__)

    async def close(self, code=None, reason=None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def _send(self, message: dict) -> None:
        if self.closing:
            return
        await self.send(text_data=json.dumps({"v": PROTOCOL_VERSION, **message}))

    async def _refuse(self, error: ProtocolError) -> None:
        """Answer a refused message with an ``error``; close the connection when the error says so."""
        await self._send({"type": "error", "code": error.code, "message": error.message, **error.fields})
        if error.close_code:
            await self._close(error.close_code)

    async def _close(self, code: int) -> None:
        await self.close(code=code)


class _ClosesWhenRefused:
    """A socket opened with a credential closes when the credential ends (signaling.revocation): on an
    announcement naming it, and on its own every ``RECHECK_SECONDS`` of heartbeats."""

    checked_at = 0.0
    watching = False
    refused = False

    def watch_credential(self, keys: set[str]) -> None:
        self.checked_at = time.monotonic()
        self.watching = True
        revocation.register(self, keys)

    def unwatch_credential(self) -> None:
        self.watching = False
        revocation.unregister(self)

    def recheck_if_due(self) -> None:
        if self.watching and time.monotonic() - self.checked_at > revocation.RECHECK_SECONDS:
            self.checked_at = time.monotonic()
            asyncio.ensure_future(self.revalidate())

    def still_allowed(self):
        """The refusal (an ApplicationError) if the socket's principal may no longer hold it; runs in a thread."""
        raise NotImplementedError

    async def revalidate(self) -> None:
        """Runs beside the socket's own messages (from the revocation listener, or a heartbeat): whatever fails
        here is logged and closes the socket rather than vanishing in a task nobody awaits."""
        if self.refused:
            return
        try:
            try:
                refusal = await database_sync_to_async(self.still_allowed)()
            except ApplicationError as exc:
                refusal = exc
            if refusal is None:
                return
            self.refused = True
            await self.refuse_socket(refusal)
        except Exception:
            logger.exception("%s: re-checking its credential failed; closing with 1011", type(self).__name__)
            try:
                await self.close(code=CLOSE_INTERNAL_ERROR)
            except Exception:  # noqa: BLE001, S110  (already closed, or the client is gone)
                pass

    async def refuse_socket(self, refusal) -> None:
        error = {"v": PROTOCOL_VERSION, "type": "error", "code": refusal.code, "message": refusal.message}
        await self.send(text_data=json.dumps(error))
        await self.close(code=CLOSE_REFUSED)


class HelloConsumer(_ClosesWhenRefused, _SignalingSocket):
    """``/ws/v1/hello``: a client checks it can reach the WebSocket endpoint and is authenticated; the agents'
    pages keep it open, so a person with a heartbeat here counts as an online agent.

    Answers one ``hello`` message naming the protocol version and the credential, then answers pings.
    Anonymous connections are closed with code 4401.
    """

    metrics_socket = "hello"
    # Nothing is ever sent to a presence connection through the channel layer: without one, a connection costs no
    # subscription in Redis and no queue in the process (thousands of agents sit here all day).
    channel_layer_alias = None

    async def connect(self) -> None:
        principal = self.scope.get("principal")
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        self.limits = protocol.RateLimiter()
        self.watch_credential(socket_keys(principal))
        user = principal.user
        if user is not None and await live.agent_connected(user.public_id, {"page": True}):
            from .org_live import agents_changed  # (it builds on this module)

            self.presence_counted = True
            await agents_changed(user)  # came online: the organization's live pages refetch who is online
        elif user is not None:
            self.presence_counted = True
        await self._send(
            {
                "type": "hello",
                "auth": principal.kind,
                "user": {"id": user.public_id, "email": user.email} if user else None,
            }
        )

    def still_allowed(self):
        # A person must still belong to an organization; an organization's own credential must still be live.
        return principal_refusal(self.scope["principal"], require_membership=True)

    async def disconnect(self, code) -> None:
        self.unwatch_credential()
        user = getattr(self.scope.get("principal"), "user", None)
        if getattr(self, "presence_counted", False) and await live.agent_disconnected(user.public_id):
            from .org_live import agents_changed

            await agents_changed(user)  # their last page closed: offline now, not when the heartbeat runs out

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Only ``ping`` is answered here (``pong``); anything else gets an ``error``, as on the session socket."""
        if self.closing:
            return
        try:
            self.limits.check("message")
            message = protocol.decode(text_data)
            if not isinstance(message, dict):
                raise ProtocolError("malformed")
            if message.get("type") != "ping":
                raise ProtocolError("unknown_type", "Only ping is answered here.")
        except ProtocolError as exc:
            await self._refuse(exc)
            return
        self.recheck_if_due()
        principal = self.scope.get("principal")
        if principal is not None and principal.user is not None:
            await live.agent_online(principal.user.public_id, {"page": True})
        await self._send({"type": "pong"})


def _customer_authorization(scope) -> str | None:
    """A customer token sent as ``Authorization: Customer cst_...``: the desktop agent joining as the customer
    (unattended, from its machine socket's ``session.request``, or attended, by the session's code). It sends no
    ``Origin``; a browser cannot set this header, so a page still uses ``?customer_token=``."""
    value = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    kind, _, token = value.partition(" ")
    return token.strip() or None if kind.lower() == "customer" else None


def _peer(role: str) -> str:
    return CUSTOMER if role == AGENT else AGENT


_PROGRESS = {Status.WAITING: 0, Status.CONSENT_REQUESTED: 1, Status.ACTIVE: 2}


def _latest(database_status: str, shared_status: str | None) -> str:
    """The further along of two views of a status (it only moves forward; final statuses are furthest)."""
    if not shared_status:
        return database_status
    rank = lambda status: _PROGRESS.get(status, 3)  # noqa: E731
    return shared_status if rank(shared_status) > rank(database_status) else database_status


class SessionConsumer(_ClosesWhenRefused, _SignalingSocket):
    """``/ws/v1/sessions/<session_id>``: relays SDP, ICE, control and chat between the agent and the customer,
    and enforces the session's state machine. Relaying touches Redis only, never the database."""

    metrics_socket = "session"
    session_id: str
    role: str
    status: str
    sent_seq = 0  # the last seq this connection gave a message to the peer
    delivered_seq = 0
    replayed = (0, 0)  # (after, up to): the seqs the last resume replayed

    # --- connection ------------------------------------------------------------------------------------

    async def connect(self) -> None:
        setup_started = time.monotonic()
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        header_token = _customer_authorization(self.scope)
        customer_token = (query.get("customer_token") or [None])[0] or header_token
        principal = self.scope.get("principal")
        if not customer_token and principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if "\x00" in self.session_id or "\x00" in (customer_token or ""):
            await self.close(code=CLOSE_NOT_FOUND)  # no such id; PostgreSQL would refuse to even look it up
            return
        self.limits = protocol.RateLimiter()
        # Join the session's group before reading its status, so no change committed meanwhile goes unseen.
        await self.channel_layer.group_add(live.session_group(self.session_id), self.channel_name)
        try:
            session, self.role, self.actor = await database_sync_to_async(self._authorize)(principal, customer_token)
        except ApplicationError as exc:
            await self.channel_layer.group_discard(live.session_group(self.session_id), self.channel_name)
            if exc.status_code == 403:  # may see the session, not run it (sessions.selectors): say so, then close
                await self.accept()
                await self._send({"type": "error", "code": exc.code, "message": exc.message})
                await self.close(code=CLOSE_REFUSED)
                return
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.organization_id = session.organization_id  # every later read of the session stays in its organization
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
        if principal is not None and self.role == AGENT:
            self.watch_credential(socket_keys(principal) | {f"org:{session.organization_id}"})
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
                    "agent": session.agent_name,
                    "customer": session.customer_name,
                },
                "seq": await live.last_seq(self.session_id, self.role),
                "peer_online": bool(peer and peer.get("online")),
                "heartbeat_seconds": settings.CONNECT_PRESENCE_TTL // 3,
            }
        )
        metrics.session_ready(setup_started)
        await self._tell_peer_presence(online=True)
        if self.role == CUSTOMER and header_token:
            # The desktop agent joined as this session's customer: the customer's page on the same computer (if
            # any) stops sharing and says so, so the viewer is not offered two screens.
            await self.channel_layer.group_send(
                live.party_group(self.session_id, CUSTOMER), {"type": "party.handover", "channel": self.channel_name}
            )

    def _authorize(self, principal, customer_token):
        from sessions.services import Actor

        client = self.scope.get("client") or [None]
        user_agent = dict(self.scope.get("headers") or []).get(b"user-agent", b"").decode("latin-1")[:300]
        user_agent = user_agent.replace("\x00", "")  # it is written to the session log
        if customer_token:
            session = session_services.session_for_customer(self.session_id, customer_token)
            return (
                session,
                CUSTOMER,
                Actor(kind=CUSTOMER, ip=client[0], user_agent=user_agent, label=session.customer_name or "customer"),
            )
        session = session_selectors.session_for_agent(principal, self.session_id)
        return session, AGENT, Actor(kind=AGENT, user=principal.user, ip=client[0], user_agent=user_agent)

    def still_allowed(self):
        """The same rule that let the agent in: a live credential, and this session theirs to run."""
        principal = self.scope["principal"]
        refusal = principal_refusal(principal)
        if refusal is None:
            session_selectors.session_for_agent(principal, self.session_id)  # NotFound once it is not
        return refusal

    async def refuse_socket(self, refusal) -> None:
        await self._send({"type": "error", "code": refusal.code, "message": refusal.message})
        await self._leave_groups()
        await self.close(code=CLOSE_REFUSED)

    async def disconnect(self, code) -> None:
        self.unwatch_credential()
        self.closing = True
        if not hasattr(self, "session_id"):
            return
        # Each step on its own: one that fails (Redis unreachable, say) must not keep the others from running.
        steps = [self._leave_groups]  # or the process stays subscribed to the session's groups
        if hasattr(self, "epoch") and not getattr(self, "transferred", False):
            steps += [
                lambda: live.presence_set(self.session_id, self.role, online=False, epoch=self.epoch),
                lambda: self._tell_peer_presence(online=False),
            ]
        for step in steps:
            try:
                await step()
            except Exception:
                logger.exception("session %s: a disconnect step failed", self.session_id)
        if (
            hasattr(self, "epoch")
            and self.status not in FINAL_STATUSES
            and not getattr(self, "transferred", False)
            and settings.CONNECT_RECONNECT_GRACE >= 0
        ):
            task = asyncio.create_task(
                _end_if_still_gone(self.session_id, self.organization_id, self.role, self.epoch, self.actor)
            )
            grace_timers.add(task)
            task.add_done_callback(grace_timers.discard)

    # --- from the client -------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closing:
            return
        try:
            self.limits.check("message")
            message = protocol.decode(text_data)
            if self.status != Status.ACTIVE:  # anything but the hot path: take the further of the two views
                self.status = _latest(self.status, await live.status(self.session_id))
            kind, fields = protocol.parse(message, self.role, self.status)
            self.limits.check_kind(kind)  # past its limit, a message is neither relayed nor recorded
            await self._handle(kind, fields)
        except ProtocolError as exc:
            await self._refuse(exc)
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
            # Known at once, before the state event comes back: what the client sent after an "end" is refused, not
            # relayed into a session that is over.
            self.status = _latest(self.status, await database_sync_to_async(self._transition)(name))
        elif name == "chat":
            await self._chat(fields["text"])
        elif name.startswith("file."):
            from sessions import files  # checked against the offer, logged; refused ones raise and are not relayed

            relayed = await files.file_message(
                session_id=self.session_id,
                organization_id=self.organization_id,
                role=self.role,
                actor=self.actor,
                name=name,
                fields=fields,
            )
            await self._relay(name, relayed)
        else:
            if name.startswith("control."):
                await database_sync_to_async(self._record)(name, fields)
            await self._relay(name, fields)

    def _transition(self, name: str) -> str:
        from sessions.models import SupportSession

        session = (
            SupportSession.objects.filter(organization_id=self.organization_id)
            .select_related("organization", "agent")
            .get(public_id=self.session_id)
        )
        if name == "consent.grant":
            session = session_services.session_grant_consent(session=session, actor=self.actor)
        elif name == "consent.decline":
            session = session_services.session_decline(session=session, actor=self.actor)
        elif name == "consent.revoke":
            session = session_services.session_revoke_consent(session=session, actor=self.actor)
        else:
            session = session_services.session_end(session=session, actor=self.actor)
        return session.status

    def _record(self, name: str, fields: dict) -> None:
        from sessions.models import SupportSession

        session = (
            SupportSession.objects.filter(organization_id=self.organization_id)
            .select_related("organization")
            .get(public_id=self.session_id)
        )
        session_services.record(session=session, actor=self.actor, event=name.replace(".", "_"))

    def _post_chat(self, text: str) -> dict:
        from sessions import chat
        from sessions.models import SupportSession

        session = (
            SupportSession.objects.filter(organization_id=self.organization_id)
            .select_related("organization", "agent")
            .get(public_id=self.session_id)
        )
        line = chat.chat_post(session=session, actor=self.actor, text=text)
        return {"id": line.public_id, "name": line.sender_name, "text": line.text, "at": line.created_at.isoformat()}

    async def _chat(self, text: str) -> None:
        """Keep the line (sessions.chat), relay it to the peer, and echo it to the sender's own connections: both
        carry the name, the server's time and the message id, so each side shows the line as it was kept. The echo
        is numbered in the sender's own stream, so a sender that reconnects gets it in its resume."""
        line = await database_sync_to_async(self._post_chat)(text)
        await self._relay("chat", line)
        # delivered_seq moves when the echo arrives (relay_message), like any message this connection receives.
        await live.relay(
            self.session_id,
            self.role,
            {"v": PROTOCOL_VERSION, "type": "chat", "from": self.role, **line},
            floor=self.delivered_seq,
        )

    async def _relay(self, name: str, fields: dict) -> None:
        self.sent_seq = await live.relay(
            self.session_id,
            self.peer_role,
            {"v": PROTOCOL_VERSION, "type": name, "from": self.role, **fields},
            floor=self.sent_seq,
        )
        metrics.message_relayed(name)

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

    async def party_handover(self, event) -> None:
        if event["channel"] != self.channel_name and not getattr(self, "closing", False):
            await self._send({"type": "handover", "to": "desktop_agent"})

    async def session_state(self, event) -> None:
        self.status = event["status"]
        await self._send({"type": "state", "status": event["status"], "end_reason": event["end_reason"]})
        if event["status"] in FINAL_STATUSES:
            await self._leave_groups()
            await self.close(code=CLOSE_ENDED)

    async def session_limit(self, event) -> None:
        """The plan's session length is near: both ends say when the session will end."""
        await self._send({"type": "limit", "limit": "session_length", "ends_at": event["ends_at"]})

    async def session_recording(self, event) -> None:
        """A recording of this session started or stopped (recordings.services): both ends show it."""
        await self._send({"type": "recording", "state": event["state"], "recording": event["recording"]})

    async def session_transferred(self, event) -> None:
        """The session now has another agent: the customer (and any other agent watching) sees the new name; the
        previous agent's socket is told and closed, as it may no longer drive the session."""
        user = getattr(self.actor, "user", None)
        if self.role == AGENT and user is not None and user.public_id == event["from_agent_id"]:
            self.transferred = True  # its leaving is not the agent gone: no grace timer ends the session
            await self._send(
                {
                    "type": "error",
                    "code": "session_transferred",
                    "message": protocol.ERROR_CODES["session_transferred"],
                    "agent": {"id": event["to_agent_id"], "name": event["to_agent_name"]},
                }
            )
            await self._leave_groups()
            await self.close(code=CLOSE_REFUSED)
            return
        await self._send({"type": "agent", "id": event["to_agent_id"], "name": event["to_agent_name"]})

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
        self.recheck_if_due()
        if self.role == AGENT and self.actor.user is not None:
            await live.agent_online(self.actor.user.public_id, {"session": self.session_id})

    async def _leave_groups(self) -> None:
        """Stop receiving group messages at once: nothing may be sent on a socket that is closing."""
        self.closing = True
        groups = [live.session_group(self.session_id)]
        if hasattr(self, "role"):
            groups.append(live.party_group(self.session_id, self.role))
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _close(self, code: int) -> None:
        await self._leave_groups()
        await self.close(code=code)


async def _end_if_still_gone(session_id: str, organization_id: int, role: str, epoch: int, actor) -> None:
    """After the reconnect grace period, end the session as disconnected unless the party came back."""
    logger.info(
        "session %s: %s dropped; ending in %s s unless it returns", session_id, role, settings.CONNECT_RECONNECT_GRACE
    )
    await asyncio.sleep(settings.CONNECT_RECONNECT_GRACE)

    def end() -> None:
        from sessions.models import SupportSession

        session = (
            SupportSession.objects.filter(organization_id=organization_id, public_id=session_id)
            .select_related("organization", "agent")
            .first()
        )

        if session is not None and session.is_live:
            session_services.session_end(session=session, actor=actor, reason=EndReason.DISCONNECTED)

    try:
        presence = await live.presence_get(session_id, role)
        if presence and (presence.get("online") or presence.get("epoch", 0) > epoch):
            return
        if await live.status(session_id) in FINAL_STATUSES:
            return
        await database_sync_to_async(end)()
    except ApplicationError:
        logger.info("session %s changed before the grace period ended", session_id)
    except Exception:
        # Nobody awaits this task: say why the session was not ended (the beat task ends it once presence expires).
        logger.exception("session %s: ending after the grace period failed", session_id)
