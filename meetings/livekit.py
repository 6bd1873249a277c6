"""The LiveKit boundary: participant tokens, room API calls (livekit-api's Twirp client) and webhook verification.

Nothing else in the product talks to LiveKit. The room API is async; services call it from sync code through
``async_to_sync`` with a client opened per call (a sync request has no event loop to keep a session on).
"""

from __future__ import annotations

from datetime import timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils.translation import gettext as _
from livekit import api

from connect.errors import ApplicationError

# LiveKit's track sources, as its grants name them.
CAMERA, MICROPHONE, SCREEN_SHARE, SCREEN_SHARE_AUDIO = "camera", "microphone", "screen_share", "screen_share_audio"
ALL_SOURCES = [CAMERA, MICROPHONE, SCREEN_SHARE, SCREEN_SHARE_AUDIO]


class SFUNotConfigured(ApplicationError):
    status_code = 503
    code = "sfu_not_configured"


class SFUUnavailable(ApplicationError):
    status_code = 502
    code = "sfu_unavailable"


class WebhookRefused(ApplicationError):
    status_code = 401
    code = "invalid_webhook_signature"


def configured() -> bool:
    return bool(settings.LIVEKIT_URL and settings.LIVEKIT_API_KEY and settings.LIVEKIT_API_SECRET)


def require_configured() -> None:
    if not configured():
        raise SFUNotConfigured(_("This needs the SFU (LiveKit), which this installation has not configured."))


def sources_for(role: str, *, guests_may_share_screen: bool) -> list[str]:
    """What each role may publish: the host everything, members camera, microphone and screen, guests camera and
    microphone (and their screen when the meeting allows it)."""
    if role == "host":
        return list(ALL_SOURCES)
    if role == "member":
        return [CAMERA, MICROPHONE, SCREEN_SHARE]
    return [CAMERA, MICROPHONE, SCREEN_SHARE] if guests_may_share_screen else [CAMERA, MICROPHONE]


def participant_token(*, room: str, identity: str, name: str, role: str, guests_may_share_screen: bool) -> str:
    require_configured()
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_publish_sources=sources_for(role, guests_may_share_screen=guests_may_share_screen),
        room_admin=True if role == "host" else None,
    )
    return (
        api.AccessToken(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_ttl(timedelta(seconds=settings.LIVEKIT_TOKEN_TTL_SECONDS))
        .to_jwt()
    )


def _call(method: str, request, service: str = "room") -> object:
    """One room (or egress) API call; a LiveKit that cannot be reached or refuses is ``502 sfu_unavailable``."""
    require_configured()

    async def run():
        async with api.LiveKitAPI(settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET) as lk:
            return await getattr(getattr(lk, service), method)(request)

    try:
        return async_to_sync(run)()
    except api.TwirpError as exc:
        if method in ("remove_participant", "mute_published_track", "delete_room", "stop_egress") and exc.status == 404:
            return None  # already gone from the room: nothing left to do there
        raise SFUUnavailable(_("The SFU refused the request: %(msg)s") % {"msg": exc.message}) from exc
    except Exception as exc:  # aiohttp's errors, timeouts
        raise SFUUnavailable(_("The SFU could not be reached; try again.")) from exc


def create_room(*, room: str, max_participants: int | None) -> None:
    _call(
        "create_room",
        api.CreateRoomRequest(
            name=room,
            empty_timeout=settings.LIVEKIT_EMPTY_TIMEOUT_SECONDS,
            max_participants=max_participants or 0,  # 0: LiveKit's own default, no limit
        ),
    )


def remove_participant(*, room: str, identity: str) -> None:
    _call("remove_participant", api.RoomParticipantIdentity(room=room, identity=identity))


def mute_published_track(*, room: str, identity: str, track_sid: str, muted: bool) -> None:
    _call(
        "mute_published_track", api.MuteRoomTrackRequest(room=room, identity=identity, track_sid=track_sid, muted=muted)
    )


def delete_room(*, room: str) -> None:
    _call("delete_room", api.DeleteRoomRequest(room=room))


def start_room_egress(*, room: str, filepath: str, s3: api.S3Upload) -> str:
    """Record the room (LiveKit's composite of everyone, as an MP4) straight into the recordings bucket at
    ``filepath``; LiveKit's ``egress_ended`` webhook says when the file is there. Returns the egress id."""
    info = _call(
        "start_room_composite_egress",
        api.RoomCompositeEgressRequest(
            room_name=room,
            layout="grid",
            file_outputs=[api.EncodedFileOutput(file_type=api.EncodedFileType.MP4, filepath=filepath, s3=s3)],
        ),
        service="egress",
    )
    return info.egress_id


def stop_egress(*, egress_id: str) -> None:
    _call("stop_egress", api.StopEgressRequest(egress_id=egress_id), service="egress")


def receive_webhook(body: bytes, auth_header: str):
    """The verified event, or ``401`` (a bad signature, an expired token, a body that does not match its hash)."""
    if not configured():
        raise WebhookRefused(_("Webhooks are refused: the SFU is not configured."))
    try:
        text = body.decode()
        receiver = api.WebhookReceiver(api.TokenVerifier(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET))
        return receiver.receive(text, auth_header or "")
    except Exception as exc:
        raise WebhookRefused(_("The webhook's signature or body hash does not verify.")) from exc
