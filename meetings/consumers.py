"""``/ws/v1/meetings/<meeting_id>``: a meeting's socket (docs/signaling.md, "Meetings").

Every participant's page holds one, with or without LiveKit: chat (kept with the meeting), raised hands, what each one
sends (microphone, camera, screen), the lobby for the host, and the host's controls. Without LiveKit it also relays
the WebRTC offers, answers and candidates of the mesh: each participant connects to each other one, the one already
in the room making the offer to the newcomer, so two never offer to each other at once.

Who may open it: a member of the meeting's organization who joined it (their signed-in browser, a bearer token or a
ticket), or a guest the host admitted (``?guest_token=`` from a page, ``Authorization: Guest ...`` from an app).
Closes: 4401 anonymous, 4404 not found (another organization's meeting, a wrong credential), 4403 not admitted or
removed, 4410 ended; each after an ``error`` saying why, where the client may be told.

The roster is kept by the consumers themselves: a newcomer announces itself to the meeting's group and each one
already there answers it directly, so no shared state is needed and any number of processes can serve a meeting.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.utils import timezone

from connect.errors import ApplicationError
from orgs.access import principal_refusal, socket_keys
from sessions.services import Actor
from signaling import protocol
from signaling.consumers import (
    CLOSE_ENDED,
    CLOSE_NOT_FOUND,
    CLOSE_REFUSED,
    CLOSE_UNAUTHENTICATED,
    _ClosesWhenRefused,
    _SignalingSocket,
)
from signaling.ice import ice_servers
from signaling.protocol import ProtocolError

from . import live, services
from .models import MeetingParticipant

logger = logging.getLogger(__name__)

MAX_SIGNAL_CHARS = protocol.MAX_SDP_CHARS
HOST_COMMANDS = frozenset({"admit", "remove", "mute", "lock", "end", "record"})
CLIENT_TYPES = frozenset({"ping", "signal", "chat", "hand", "media"} | HOST_COMMANDS)


def _guest_authorization(scope) -> str | None:
    value = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    kind, _, token = value.partition(" ")
    return token.strip() or None if kind.lower() == "guest" else None


def _peer(participant: MeetingParticipant) -> dict[str, Any]:
    return {
        "id": participant.public_id,
        "name": participant.display_name,
        "role": participant.role,
        "identity": participant.identity,
    }


def _lobby(meeting) -> list[dict[str, Any]]:
    return [
        {"id": p.public_id, "name": p.display_name, "since": p.created_at.isoformat()}
        for p in services.waiting(meeting)
    ]


def _chat_line(message) -> dict[str, Any]:
    return {
        "type": "chat",
        "id": message.pk,
        "from": message.participant.public_id if message.participant_id else None,
        "name": message.sender_name,
        "text": message.text,
        "at": message.created_at.isoformat(),
    }


class MeetingConsumer(_ClosesWhenRefused, _SignalingSocket):
    metrics_socket = "meeting"
    participant: MeetingParticipant
    org: Any = None  # a member's OrgContext (host controls); None for a guest
    joined_at = None
    entered = False

    # --- connection ------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        guest_token = (query.get("guest_token") or [None])[0] or _guest_authorization(self.scope)
        principal = self.scope.get("principal")
        user = getattr(principal, "user", None)
        if user is None and not guest_token:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if "\x00" in meeting_id or "\x00" in (guest_token or ""):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.peers: dict[str, dict[str, Any]] = {}  # participant id -> {"channel", "peer"}
        self.limits = protocol.RateLimiter()
        try:
            welcome = await database_sync_to_async(self._enter)(meeting_id, principal if user else None, guest_token)
        except ApplicationError as exc:
            if exc.status_code == 404:
                await self.close(code=CLOSE_NOT_FOUND)
                return
            await self.accept()
            await self._send({"type": "error", "code": exc.code, "message": exc.message, **(exc.details or {})})
            await self.close(code=CLOSE_ENDED if exc.code == "meeting_ended" else CLOSE_REFUSED)
            return
        self.group = live.meeting_group(self.participant.meeting_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if principal is not None:
            self.watch_credential(socket_keys(principal) | {f"org:{self.participant.organization_id}"})
        await self._send(welcome)
        await self.channel_layer.group_send(
            self.group,
            {"type": "peer.joined", "peer": _peer(self.participant), "channel": self.channel_name},
        )

    def _enter(self, meeting_id: str, principal, guest_token: str | None) -> dict[str, Any]:
        participant, self.org = services.participant_for_socket(
            meeting_id, principal=principal, guest_token=guest_token or ""
        )
        client = self.scope.get("client") or [None]
        kind = "agent" if participant.user_id else "customer"
        self.actor = Actor(kind=kind, user=participant.user, label=participant.display_name, ip=client[0])
        participant = services.mesh_enter(participant, self.actor)
        self.participant = participant
        self.joined_at = participant.joined_at
        self.entered = True
        meeting = participant.meeting
        self.mesh = not services.uses_sfu()
        self.is_host = self.org is not None and services.is_host(self.org, meeting)
        return {
            "type": "welcome",
            "you": _peer(participant),
            "host": self.is_host,
            "meeting": {
                "id": meeting.public_id,
                "title": meeting.title,
                "locked": meeting.locked,
                "mode": "mesh" if self.mesh else "livekit",
                "max_participants": services.MESH_MAX_PARTICIPANTS if self.mesh else None,
                "guests_may_share_screen": meeting.guests_may_share_screen,
            },
            "ice_servers": ice_servers(participant.identity) if self.mesh else [],
            "chat": [_chat_line(m) for m in services.chat_history(meeting)],
            "recording": services.recording_running(meeting),
            "lobby": _lobby(meeting) if self.is_host else [],
        }

    def still_allowed(self):
        principal = self.scope.get("principal")
        if principal is None:
            return None  # a guest: the host's removal closes the socket (meeting_removed)
        return principal_refusal(principal)

    async def disconnect(self, code) -> None:
        self.unwatch_credential()
        if not self.entered:
            return
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_send(
                self.group, {"type": "peer.left", "peer": self.participant.public_id, "channel": self.channel_name}
            )
        except Exception:  # noqa: BLE001 - the others notice the dead peer connection anyway
            logger.warning("meeting socket: could not announce the leave", exc_info=True)
        await database_sync_to_async(services.mesh_leave)(self.participant, self.joined_at)

    # --- from the client -------------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closing:
            return
        try:
            self.limits.check("message")
            message = protocol.decode(text_data)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError("malformed")
            kind = message["type"]
            if kind not in CLIENT_TYPES:
                raise ProtocolError("unknown_type")
            if kind in HOST_COMMANDS and not self.is_host:
                raise ProtocolError("not_allowed", "Only the meeting's host can do this.")
            await getattr(self, f"_on_{kind}")(message)
        except ProtocolError as exc:
            await self._refuse(exc)
        except ApplicationError as exc:
            await self._send({"type": "error", "code": exc.code, "message": exc.message})

    async def _on_ping(self, message: dict) -> None:
        self.recheck_if_due()
        await self._send({"type": "pong"})

    async def _on_signal(self, message: dict) -> None:
        if not self.mesh:
            raise ProtocolError("not_allowed", "This meeting's media goes through LiveKit.")
        target = self.peers.get(message.get("to") if isinstance(message.get("to"), str) else "")
        if target is None:
            raise ProtocolError("invalid_message", "No such participant in the meeting.")
        payload: dict[str, Any] = {}
        description = message.get("description")
        candidate = message.get("candidate")
        if isinstance(description, dict):
            if description.get("type") not in ("offer", "answer") or not isinstance(description.get("sdp"), str):
                raise ProtocolError("invalid_message", "A description is an offer or an answer with its SDP.")
            if len(description["sdp"]) > MAX_SIGNAL_CHARS:
                raise ProtocolError("too_large")
            payload["description"] = {"type": description["type"], "sdp": description["sdp"]}
        elif isinstance(candidate, dict) or candidate is None and "candidate" in message:
            payload["candidate"] = candidate
        else:
            raise ProtocolError("invalid_message", "A signal carries a description or a candidate.")
        if not protocol._clean(payload):
            raise ProtocolError("invalid_message", "Text with a NUL byte or a lone surrogate.")
        await self.channel_layer.send(
            target["channel"], {"type": "peer.signal", "from": self.participant.public_id, **payload}
        )

    async def _on_chat(self, message: dict) -> None:
        self.limits.check("chat")
        text = message.get("text")
        if not isinstance(text, str) or not protocol._clean_text(text):
            raise ProtocolError("invalid_message", "Chat text is a string.")
        line = await database_sync_to_async(services.chat_post)(self.participant, text)
        line.participant = self.participant
        await self.channel_layer.group_send(self.group, {"type": "meeting.relay", "message": _chat_line(line)})

    async def _on_hand(self, message: dict) -> None:
        self.limits.check("control")
        raised = message.get("raised")
        if not isinstance(raised, bool):
            raise ProtocolError("invalid_message", "raised is true or false.")
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "meeting.relay",
                "message": {"type": "hand", "from": self.participant.public_id, "raised": raised},
            },
        )

    async def _on_media(self, message: dict) -> None:
        state = {name: message.get(name) for name in ("audio", "video", "screen")}
        if not all(isinstance(value, bool) for value in state.values()):
            raise ProtocolError("invalid_message", "audio, video and screen are true or false.")
        # The meeting as the socket opened it: nothing changes guests_may_share_screen once a meeting exists.
        if state["screen"] and self.participant.role == MeetingParticipant.Role.GUEST:
            if not self.participant.meeting.guests_may_share_screen:
                raise ProtocolError("not_allowed", "The host has not allowed guests to share their screen.")
        await self.channel_layer.group_send(
            self.group,
            {"type": "meeting.relay", "message": {"type": "media", "from": self.participant.public_id, **state}},
        )

    def _target(self, message: dict) -> MeetingParticipant:
        target = message.get("participant")
        if not isinstance(target, str) or not target or "\x00" in target:
            raise ProtocolError("invalid_message", "Name the participant.")
        return services.participant_for(self.participant.meeting, target)

    async def _host(self, call) -> None:
        self.limits.check("control")
        await database_sync_to_async(call)()

    async def _on_admit(self, message: dict) -> None:
        await self._host(
            lambda: services.participant_admit(org=self.org, participant=self._target(message), actor=self.actor)
        )

    async def _on_remove(self, message: dict) -> None:
        await self._host(
            lambda: services.participant_remove(org=self.org, participant=self._target(message), actor=self.actor)
        )

    async def _on_mute(self, message: dict) -> None:
        track = message.get("track_sid") if isinstance(message.get("track_sid"), str) else ""
        await self._host(
            lambda: services.participant_mute(
                org=self.org, participant=self._target(message), actor=self.actor, track_sid=track
            )
        )

    async def _on_lock(self, message: dict) -> None:
        locked = message.get("locked")
        if not isinstance(locked, bool):
            raise ProtocolError("invalid_message", "locked is true or false.")
        await self._host(
            lambda: services.meeting_lock(
                org=self.org, meeting=self.participant.meeting, actor=self.actor, locked=locked
            )
        )

    async def _on_record(self, message: dict) -> None:
        """Start (``on: true``) or stop the meeting's recording (LiveKit's egress; recordings.meeting_recordings)."""
        on = message.get("on")
        if not isinstance(on, bool):
            raise ProtocolError("invalid_message", "on is true or false.")
        from recordings import meeting_recordings

        action = meeting_recordings.meeting_recording_start if on else meeting_recordings.meeting_recordings_stop
        await self._host(lambda: action(org=self.org, meeting=self.participant.meeting, actor=self.actor))

    async def _on_end(self, message: dict) -> None:
        await self._host(lambda: services.meeting_end(org=self.org, meeting=self.participant.meeting, actor=self.actor))

    # --- from the channel layer ------------------------------------------------------------------------------

    async def peer_joined(self, event) -> None:
        if event["channel"] == self.channel_name:
            return
        peer = event["peer"]
        self.peers[peer["id"]] = {"channel": event["channel"], "peer": peer}
        await self._send({"type": "peer.joined", "peer": peer})
        await self.channel_layer.send(
            event["channel"], {"type": "peer.here", "peer": _peer(self.participant), "channel": self.channel_name}
        )

    async def peer_here(self, event) -> None:
        peer = event["peer"]
        self.peers[peer["id"]] = {"channel": event["channel"], "peer": peer}
        await self._send({"type": "peer.here", "peer": peer})

    async def peer_left(self, event) -> None:
        known = self.peers.get(event["peer"])
        if event["channel"] == self.channel_name or known is None or known["channel"] != event["channel"]:
            return  # our own leave, or an older connection of someone who has reconnected since
        del self.peers[event["peer"]]
        await self._send({"type": "peer.left", "peer": event["peer"]})

    async def peer_signal(self, event) -> None:
        if event["from"] not in self.peers:
            return
        await self._send({"type": "signal", **{k: v for k, v in event.items() if k != "type"}})

    async def meeting_relay(self, event) -> None:
        await self._send(event["message"])

    async def meeting_lobby(self, event) -> None:
        if self.is_host:
            lobby = await database_sync_to_async(_lobby)(self.participant.meeting)
            await self._send({"type": "lobby", "waiting": lobby})

    async def meeting_removed(self, event) -> None:
        if event["participant"] == self.participant.public_id:
            await self._send(
                {"type": "error", "code": "removed_from_meeting", "message": "The host removed you from this meeting."}
            )
            await self.close(code=CLOSE_REFUSED)
            await self._disconnect_once(CLOSE_REFUSED)
            return
        if self.peers.pop(event["participant"], None) is not None:
            await self._send({"type": "peer.left", "peer": event["participant"], "reason": "removed"})

    async def meeting_muted(self, event) -> None:
        if event["participant"] == self.participant.public_id:
            await self._send({"type": "muted", "by": "host"})

    async def meeting_locked(self, event) -> None:
        await self._send({"type": "locked", "locked": event["locked"]})

    async def meeting_recording(self, event) -> None:
        await self._send({"type": "recording", "state": event["state"], "recording": event["recording"]})

    async def meeting_ended(self, event) -> None:
        await self._send({"type": "ended", "at": timezone.now().isoformat()})
        await self.close(code=CLOSE_ENDED)
        await self._disconnect_once(CLOSE_ENDED)
