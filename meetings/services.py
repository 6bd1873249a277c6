"""Meetings: create, join (members and guests), the host's controls, end, and LiveKit's webhooks. Every rule here.

Who may see a meeting is :func:`meeting_for` (members of its organization; another organization's meeting is not
found); who may use the host's controls is :func:`require_host` (the host, owners and admins, the organization's own
credentials). Changes are audited in the transaction that makes them. Room API calls (``meetings.livekit``) run
before the write they go with: if LiveKit refuses, nothing changes here.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements, metering
from billing.models import Metric
from connect import ratelimit
from connect.errors import ApplicationError, Conflict, Forbidden, NotFound
from connect.ids import new_public_id, new_secret, secret_hash
from orgs.models import Organization, Role
from orgs.roles import role_at_least
from orgs.tenancy import OrgContext, get_for_org_or_404
from sessions.services import Actor

from . import live, livekit
from .models import Meeting, MeetingMessage, MeetingParticipant, MeetingWebhookEvent

INVITE_PREFIX = "mti"
GUEST_TOKEN_PREFIX = "mtg_guest"
PRESENT_STATES = (MeetingParticipant.State.LOBBY, MeetingParticipant.State.ADMITTED)
WEBHOOK_REASON = "LiveKit's webhook names the room, not the organization"
INVITE_REASON = "a guest's invite link names its meeting, not the organization"
WRONG_INVITE_ERRORS = ("invalid_invite", "invalid_guest_token")
# Without an SFU every participant sends their video to every other: past four, uplinks and CPUs give out.
MESH_MAX_PARTICIPANTS = 4
MAX_CHAT_CHARS = 2000


class MeetingLocked(ApplicationError):
    status_code = 403
    code = "meeting_locked"


class RemovedFromMeeting(ApplicationError):
    status_code = 403
    code = "removed_from_meeting"


class MeetingFull(ApplicationError):
    status_code = 409
    code = "meeting_full"


def uses_sfu() -> bool:
    """LiveKit configured: media through the SFU. Otherwise meetings run as a WebRTC mesh over the product's own
    signaling (``meetings.consumers``), up to :data:`MESH_MAX_PARTICIPANTS`."""
    return livekit.configured()


def _audit(meeting: Meeting, action: str, actor: Actor, data: dict | None = None) -> None:
    audit_record(
        organization=meeting.organization,
        action=f"meeting.{action}",
        actor=actor,
        target=meeting,
        ip=actor.ip,
        data={"meeting_id": meeting.public_id, **(data or {})},
    )


# --- Access -----------------------------------------------------------------------------------------------------


def meeting_for(org: OrgContext, public_id: str) -> Meeting:
    """The one rule for seeing a meeting: any member (or credential) of its organization; elsewhere, 404."""
    return get_for_org_or_404(
        Meeting.objects.select_related("host", "organization"), org.organization, public_id=public_id
    )


def participant_for(meeting: Meeting, public_id: str) -> MeetingParticipant:
    return get_for_org_or_404(
        MeetingParticipant.objects.filter(meeting=meeting).select_related("meeting"),
        meeting.organization,
        public_id=public_id,
    )


def is_host(org: OrgContext, meeting: Meeting) -> bool:
    if org.user is None:
        return True  # the organization's own credential (API key, OAuth2 client) with meetings:write
    return org.user.pk == meeting.host_id or role_at_least(org.role, Role.ADMIN)


def require_host(org: OrgContext, meeting: Meeting) -> None:
    if not is_host(org, meeting):
        raise Forbidden(_("Only the meeting's host (or an owner or admin) can do this."), code="not_meeting_host")


def _current(meeting: Meeting) -> Meeting:
    """The meeting as it is now, locked for this transaction."""
    return (
        Meeting.objects.for_org(meeting.organization)
        .select_for_update(of=("self",))  # the host may be gone (null): lock the meeting's row alone
        .select_related("host", "organization")
        .get(pk=meeting.pk)
    )


def _require_open(meeting: Meeting) -> None:
    if meeting.status == Meeting.Status.ENDED:
        raise Conflict(_("This meeting has ended."), code="meeting_ended")


# --- Create and start -------------------------------------------------------------------------------------------


def _require_meeting_slot(organization: Organization, ents: entitlements.Entitlements) -> None:
    allowed = ents.limit("concurrent_meetings")
    if allowed is None:
        return
    entitlements._serialize(organization)
    live = Meeting.objects.for_org(organization).filter(status=Meeting.Status.LIVE).count()
    if live + 1 > allowed:
        entitlements._refuse(
            organization,
            _("%(live)s meetings are live, the most your plan allows at once. End one, or upgrade.") % {"live": live},
            limit="concurrent_meetings",
            allowed=allowed,
            current=live,
        )


@transaction.atomic
def meeting_create(
    *,
    org: OrgContext,
    actor: Actor,
    title: str,
    scheduled_start: datetime | None = None,
    scheduled_end: datetime | None = None,
    guests_may_share_screen: bool = False,
) -> tuple[Meeting, str]:
    """A meeting and its guest link's secret (shown once; only its hash is kept). An instant one (no start) must
    fit the plan's concurrent meetings now; a scheduled one when it starts."""
    organization = org.organization
    ents = entitlements.require_feature(organization, "meetings")
    if scheduled_start is None:
        _require_meeting_slot(organization, ents)
    if scheduled_start and scheduled_end and scheduled_end <= scheduled_start:
        raise ApplicationError(_("The meeting must end after it starts."), code="invalid_schedule")
    invite = new_secret(INVITE_PREFIX)
    public_id = new_public_id("mtg")
    meeting = Meeting.objects.create(
        organization=organization,
        public_id=public_id,
        room_name=public_id,
        title=title,
        host=org.user,
        host_label=(org.user.get_full_name() or org.user.email) if org.user else actor.label,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        guests_may_share_screen=guests_may_share_screen,
        invite_token_hash=secret_hash(invite),
    )
    _audit(meeting, "created", actor, {"title": title, "instant": scheduled_start is None})
    return meeting, invite


@transaction.atomic
def invite_rotate(*, org: OrgContext, meeting: Meeting, actor: Actor) -> str:
    """A new guest link for the meeting (shown once); the old one stops working. Guests already in keep their place."""
    require_host(org, meeting)
    _require_open(meeting)
    invite = new_secret(INVITE_PREFIX)
    Meeting.objects.for_org(meeting.organization).filter(pk=meeting.pk).update(invite_token_hash=secret_hash(invite))
    _audit(meeting, "invite_rotated", actor)
    return invite


def _start(meeting: Meeting, actor: Actor) -> None:
    """The first admitted participant starts the meeting: its LiveKit room is created, sized by the plan."""
    if meeting.status == Meeting.Status.LIVE:
        return
    ents = entitlements.require_writable(meeting.organization)
    _require_meeting_slot(meeting.organization, ents)
    if uses_sfu():
        livekit.create_room(room=meeting.room_name, max_participants=ents.limit("meeting_participants"))
    meeting.status = Meeting.Status.LIVE
    meeting.started_at = timezone.now()
    meeting.save(update_fields=["status", "started_at"])
    _audit(meeting, "started", actor)


# --- Join -------------------------------------------------------------------------------------------------------


def _require_room_for_one_more(meeting: Meeting) -> None:
    ents = entitlements.require_feature(meeting.organization, "meetings")
    allowed = ents.limit("meeting_participants")
    entitlements._serialize(meeting.organization)
    present = MeetingParticipant.objects.filter(meeting=meeting, state__in=PRESENT_STATES).count()
    if not uses_sfu() and present + 1 > MESH_MAX_PARTICIPANTS:
        raise MeetingFull(
            _(
                "This meeting already has %(n)s participants, the most a meeting can hold without a media server. "
                "For larger meetings the organization needs an SFU (LiveKit) configured."
            )
            % {"n": present},
            details={"allowed": MESH_MAX_PARTICIPANTS, "current": present, "mode": "mesh"},
        )
    if allowed is not None and present + 1 > allowed:
        entitlements._refuse(
            meeting.organization,
            _("This meeting has %(n)s participants, the most your plan allows.") % {"n": present},
            limit="meeting_participants",
            allowed=allowed,
            current=present,
        )


def _admit_new(meeting: Meeting, *, is_the_host: bool) -> None:
    if meeting.locked and not is_the_host:
        raise MeetingLocked(_("The host has locked this meeting: nobody new can join."))
    _require_room_for_one_more(meeting)


@transaction.atomic
def meeting_join(*, org: OrgContext, meeting: Meeting, actor: Actor, name: str = "") -> MeetingParticipant:
    """A member of the organization joins: admitted at once (the host as host). Coming back reuses their place;
    someone the host removed stays out."""
    user = org.user
    if user is None:
        raise Forbidden(_("Joining a meeting needs a person's credential."), code="person_required")
    meeting = Meeting.objects.for_org(meeting.organization).select_for_update().get(pk=meeting.pk)
    _require_open(meeting)
    identity = user.public_id
    participant = MeetingParticipant.objects.filter(meeting=meeting, identity=identity).first()
    is_the_host = user.pk == meeting.host_id
    if participant is not None:
        if participant.state == MeetingParticipant.State.REMOVED:
            raise RemovedFromMeeting(_("The host removed you from this meeting."))
        if participant.state == MeetingParticipant.State.LEFT:
            _require_room_for_one_more(meeting)  # someone admitted before comes back, even into a locked meeting
        participant.state = MeetingParticipant.State.ADMITTED
        if name:
            participant.display_name = name
        participant.save(update_fields=["state", "display_name"])
    else:
        _admit_new(meeting, is_the_host=is_the_host)
        participant = MeetingParticipant.objects.create(
            organization=meeting.organization,
            meeting=meeting,
            user=user,
            display_name=name or user.get_full_name() or user.email,
            identity=identity,
            role=MeetingParticipant.Role.HOST if is_the_host else MeetingParticipant.Role.MEMBER,
            state=MeetingParticipant.State.ADMITTED,
        )
    _start(meeting, actor)
    participant.meeting = meeting
    _audit(meeting, "joined", actor, {"participant_id": participant.public_id, "role": participant.role})
    return participant


def _meeting_for_invite(invite: str) -> Meeting:
    meeting = (
        Meeting.objects.unscoped(INVITE_REASON)
        .select_related("organization")
        .filter(invite_token_hash=secret_hash(invite or ""))
        .first()
    )
    if meeting is None or not meeting.organization.is_active:
        raise NotFound(_("This invite link is not valid."), code="invalid_invite")
    return meeting


@transaction.atomic
def _guest_join(*, invite: str, name: str, guest_token: str, actor: Actor) -> tuple[MeetingParticipant, str]:
    found = _meeting_for_invite(invite)
    meeting = Meeting.objects.for_org(found.organization).select_for_update().get(pk=found.pk)
    _require_open(meeting)
    if guest_token:  # a guest coming back (or waiting in the lobby): their place, as the host left it
        participant = MeetingParticipant.objects.filter(
            meeting=meeting, guest_token_hash=secret_hash(guest_token)
        ).first()
        if participant is None:
            raise NotFound(_("This guest credential is not valid for this meeting."), code="invalid_guest_token")
        if participant.state == MeetingParticipant.State.REMOVED:
            raise RemovedFromMeeting(_("The host removed you from this meeting."))
        if participant.state == MeetingParticipant.State.LEFT:
            _admit_new(meeting, is_the_host=False)
            participant.state = MeetingParticipant.State.LOBBY
            participant.save(update_fields=["state"])
            live.announce(meeting, {"type": "meeting.lobby"})
        participant.meeting = meeting
        return participant, guest_token
    if not name.strip():
        raise ApplicationError(_("Say your name so the host knows who is waiting."), code="name_required")
    _admit_new(meeting, is_the_host=False)
    token = new_secret(GUEST_TOKEN_PREFIX)
    participant = MeetingParticipant.objects.create(
        organization=meeting.organization,
        meeting=meeting,
        display_name=name.strip(),
        identity=new_public_id("gst"),
        role=MeetingParticipant.Role.GUEST,
        state=MeetingParticipant.State.LOBBY,
        guest_token_hash=secret_hash(token),
    )
    participant.meeting = meeting
    _audit(meeting, "guest_waiting", actor, {"participant_id": participant.public_id, "name": participant.display_name})
    live.announce(meeting, {"type": "meeting.lobby"})
    return participant, token


def meeting_for_invite(*, invite: str, actor: Actor) -> Meeting:
    """What a guest's invite link opens (shown before they give their name: who invites, to what). Wrong links are
    rate-limited per address, as on joining."""
    return ratelimit.guarded(
        [f"meeting-invite-fail:ip:{actor.ip}"],
        lambda: _meeting_for_invite(invite),
        limit=settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE,
        message=_("Too many wrong invite links. Wait a minute and try again."),
        counts=lambda exc: exc.code in WRONG_INVITE_ERRORS,
    )


def meeting_guest_join(
    *, invite: str, actor: Actor, name: str = "", guest_token: str = ""
) -> tuple[MeetingParticipant, str]:
    """A guest with the invite link waits in the lobby until the host admits them; they come back (to learn whether
    they were admitted) with the guest credential they were given. Wrong links are rate-limited per address."""
    return ratelimit.guarded(
        [f"meeting-invite-fail:ip:{actor.ip}"],
        lambda: _guest_join(invite=invite, name=name, guest_token=guest_token, actor=actor),
        limit=settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE,
        message=_("Too many wrong invite links. Wait a minute and try again."),
        counts=lambda exc: exc.code in WRONG_INVITE_ERRORS,
    )


def token_for(participant: MeetingParticipant) -> str | None:
    """The participant's LiveKit token: only once admitted (the lobby gets none); grants by role. None without
    LiveKit (the mesh needs none: its socket checks the participant itself)."""
    if participant.state != MeetingParticipant.State.ADMITTED or not uses_sfu():
        return None
    meeting = participant.meeting
    return livekit.participant_token(
        room=meeting.room_name,
        identity=participant.identity,
        name=participant.display_name,
        role=participant.role,
        guests_may_share_screen=meeting.guests_may_share_screen,
    )


def guest_admitted_start(participant: MeetingParticipant, actor: Actor) -> None:
    """An admitted guest about to connect: the room must exist (a guest may be admitted before anyone joined)."""
    if participant.state == MeetingParticipant.State.ADMITTED and participant.meeting.status != Meeting.Status.LIVE:
        with transaction.atomic():
            _start(participant.meeting, actor)


# --- Host controls ----------------------------------------------------------------------------------------------


@transaction.atomic
def participant_admit(*, org: OrgContext, participant: MeetingParticipant, actor: Actor) -> MeetingParticipant:
    meeting = participant.meeting
    require_host(org, meeting)
    _require_open(meeting)
    if participant.state == MeetingParticipant.State.ADMITTED:
        return participant
    if participant.state != MeetingParticipant.State.LOBBY:
        raise Conflict(
            _("Only someone waiting in the lobby can be admitted; this participant is %(state)s.")
            % {"state": participant.state},
            code="not_in_lobby",
        )
    participant.state = MeetingParticipant.State.ADMITTED
    participant.save(update_fields=["state"])
    _audit(meeting, "admitted", actor, {"participant_id": participant.public_id, "name": participant.display_name})
    live.announce(meeting, {"type": "meeting.lobby"})
    return participant


@transaction.atomic
def participant_remove(*, org: OrgContext, participant: MeetingParticipant, actor: Actor) -> MeetingParticipant:
    """Out of the room now (LiveKit disconnects them) and for good: they cannot rejoin this meeting."""
    meeting = participant.meeting
    require_host(org, meeting)
    if participant.state == MeetingParticipant.State.REMOVED:
        return participant
    if participant.role == MeetingParticipant.Role.HOST:
        raise Conflict(_("The host cannot be removed; end the meeting instead."), code="cannot_remove_host")
    if meeting.status == Meeting.Status.LIVE and livekit.configured():
        livekit.remove_participant(room=meeting.room_name, identity=participant.identity)
    was_waiting = participant.state == MeetingParticipant.State.LOBBY
    if participant.joined_at and participant.left_at is None:
        _close_stint(participant, timezone.now())
    participant.state = MeetingParticipant.State.REMOVED
    participant.save(update_fields=["state"])
    _audit(meeting, "removed", actor, {"participant_id": participant.public_id, "name": participant.display_name})
    live.announce(meeting, {"type": "meeting.removed", "participant": participant.public_id})
    if was_waiting:
        live.announce(meeting, {"type": "meeting.lobby"})
    return participant


@transaction.atomic
def participant_mute(
    *, org: OrgContext, participant: MeetingParticipant, actor: Actor, track_sid: str, muted: bool = True
) -> MeetingParticipant:
    meeting = participant.meeting
    require_host(org, meeting)
    _require_open(meeting)
    if participant.state != MeetingParticipant.State.ADMITTED or meeting.status != Meeting.Status.LIVE:
        raise Conflict(_("Only someone in the live meeting can be muted."), code="not_in_meeting")
    if uses_sfu():
        if not track_sid:
            raise ApplicationError(_("Name the track to mute (its LiveKit id)."), code="track_required")
        livekit.mute_published_track(
            room=meeting.room_name, identity=participant.identity, track_sid=track_sid, muted=muted
        )
    elif muted:  # the mesh: the participant's own page turns its microphone off (they may turn it on again)
        live.announce(meeting, {"type": "meeting.muted", "participant": participant.public_id})
    _audit(
        meeting,
        "muted" if muted else "unmuted",
        actor,
        {"participant_id": participant.public_id, "track_sid": track_sid},
    )
    return participant


@transaction.atomic
def meeting_lock(*, org: OrgContext, meeting: Meeting, actor: Actor, locked: bool = True) -> Meeting:
    meeting = _current(meeting)  # the caller's copy may be old (a socket holds one for its whole life)
    require_host(org, meeting)
    _require_open(meeting)
    if meeting.locked == locked:
        return meeting
    meeting.locked = locked
    meeting.save(update_fields=["locked"])
    _audit(meeting, "locked" if locked else "unlocked", actor)
    live.announce(meeting, {"type": "meeting.locked", "locked": locked})
    return meeting


def _close_stint(participant: MeetingParticipant, left_at: datetime) -> None:
    """Meter a participant's time in the room: started minutes per stint (joined at t, left at t+150 s: 3)."""
    if participant.joined_at is None or (participant.left_at and participant.left_at >= participant.joined_at):
        return
    seconds = max(0, (left_at - participant.joined_at).total_seconds())
    minutes = math.ceil(seconds / 60)
    participant.left_at = left_at
    if minutes:
        stint = int(participant.joined_at.timestamp())
        counted = metering.record(
            organization=participant.organization,
            metric=Metric.MEETING_MINUTES,
            quantity=minutes,
            source_key=f"meeting:{participant.meeting.public_id}:{participant.identity}:{stint}",
            occurred_at=left_at,
            agent_id=participant.user.public_id if participant.user_id else "",
            agent_name=participant.display_name,
        )
        if counted:
            participant.minutes_counted += minutes
    participant.save(update_fields=["left_at", "minutes_counted"])


def _finish(meeting: Meeting, at: datetime) -> None:
    for participant in MeetingParticipant.objects.filter(meeting=meeting).select_related("user", "meeting"):
        _close_stint(participant, at)
        if participant.state in PRESENT_STATES:
            participant.state = MeetingParticipant.State.LEFT
            participant.save(update_fields=["state"])
    meeting.status = Meeting.Status.ENDED
    meeting.ended_at = at
    meeting.save(update_fields=["status", "ended_at"])


@transaction.atomic
def meeting_end(*, org: OrgContext, meeting: Meeting, actor: Actor) -> Meeting:
    """End for everyone: LiveKit closes the room (disconnecting all), every stint is metered."""
    meeting = _current(meeting)
    require_host(org, meeting)
    _require_open(meeting)
    if meeting.status == Meeting.Status.LIVE and livekit.configured():
        livekit.delete_room(room=meeting.room_name)
    _finish(meeting, timezone.now())
    _audit(meeting, "ended", actor)
    live.announce(meeting, {"type": "meeting.ended"})
    return meeting


# --- LiveKit's webhooks -----------------------------------------------------------------------------------------


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else timezone.now()


@transaction.atomic
def webhook_handle(*, body: bytes, auth_header: str) -> bool:
    """Apply one verified LiveKit event; False when it changed nothing (a replay, an unknown room or event)."""
    event = livekit.receive_webhook(body, auth_header)
    room = event.room.name or event.egress_info.room_name
    meeting = (
        Meeting.objects.unscoped(WEBHOOK_REASON).select_related("organization").filter(room_name=room).first()
        if room
        else None
    )
    if meeting is None:
        return False
    meeting = Meeting.objects.for_org(meeting.organization).select_for_update().get(pk=meeting.pk)
    event_id = event.id or hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            MeetingWebhookEvent.objects.create(
                organization=meeting.organization, event_id=event_id[:100], kind=event.event
            )
    except IntegrityError:
        return False  # already handled
    at = _moment(event.created_at)
    if event.event in ("participant_joined", "participant_left"):
        participant = (
            MeetingParticipant.objects.filter(meeting=meeting, identity=event.participant.identity)
            .select_related("user", "meeting")
            .first()
        )
        if participant is None:
            return True
        if event.event == "participant_joined":
            joined = _moment(event.participant.joined_at or event.created_at)
            if participant.joined_at and participant.left_at is None:
                _close_stint(participant, joined)  # a reconnect without a leave: the stint before it still counts
            participant.joined_at = joined
            participant.left_at = None
            participant.save(update_fields=["joined_at", "left_at"])
        else:
            _close_stint(participant, at)
            if participant.state == MeetingParticipant.State.ADMITTED:
                participant.state = MeetingParticipant.State.LEFT
                participant.save(update_fields=["state"])
    elif event.event == "egress_ended":
        from recordings.meeting_recordings import egress_ended  # recordings builds on meetings, not the other way

        egress_ended(event.egress_info)
    elif event.event == "room_finished" and meeting.status != Meeting.Status.ENDED:
        _ended_by_itself(meeting, at, by="livekit")
    return True


def _ended_by_itself(meeting: Meeting, at: datetime, *, by: str) -> None:
    """Nobody ended it: LiveKit finished the room, or the mesh stood empty. Metered, audited, and the pages told."""
    _finish(meeting, at)
    audit_record(
        organization=meeting.organization,
        action="meeting.ended",
        actor=None,
        target=meeting,
        data={"meeting_id": meeting.public_id, "by": by},
    )
    live.announce(meeting, {"type": "meeting.ended"})


# --- The mesh (no SFU): the meeting socket's rules ------------------------------------------------------------


def participant_for_socket(
    meeting_id: str, *, principal=None, guest_token: str = ""
) -> tuple[MeetingParticipant, OrgContext | None]:
    """Who opens a meeting's socket: a member by their credential (a person's), a guest by their guest credential.
    Anything else, or another organization's meeting, is not found. The member's :class:`OrgContext` comes back for
    the host's controls."""
    from orgs.tenancy import org_context_for_principal

    user = getattr(principal, "user", None)
    if user is not None:
        meeting = (
            Meeting.objects.unscoped("the socket names its meeting; membership is checked next")
            .filter(public_id=meeting_id)
            .select_related("organization")
            .first()
        )
        if meeting is None:
            raise NotFound(_("No such meeting."), code="not_found")
        org = org_context_for_principal(principal, meeting.organization.slug)  # NotFound unless a member
        if not org.has_scope("meetings:read"):
            raise NotFound(_("No such meeting."), code="not_found")
        meeting = meeting_for(org, meeting_id)
        participant = MeetingParticipant.objects.filter(meeting=meeting, identity=user.public_id).first()
        if participant is None:
            raise Forbidden(_("Join the meeting first."), code="not_joined")
        participant.meeting = meeting
        return participant, org
    participant = (
        MeetingParticipant.objects.unscoped(INVITE_REASON)
        .select_related("meeting", "meeting__organization", "organization")
        .filter(guest_token_hash=secret_hash(guest_token or ""), meeting__public_id=meeting_id)
        .first()
    )
    if participant is None or not guest_token:
        raise NotFound(_("This guest credential is not valid for this meeting."), code="invalid_guest_token")
    return participant, None


@transaction.atomic
def mesh_enter(participant: MeetingParticipant, actor: Actor) -> MeetingParticipant:
    """The participant's socket opens: they must be admitted (someone who left comes back if the meeting has room for
    them, locked or not: the host removes whoever should stay out); their stint in the room starts now."""
    meeting = Meeting.objects.for_org(participant.organization).select_for_update().get(pk=participant.meeting_id)
    participant = (
        MeetingParticipant.objects.for_org(participant.organization)
        .select_related("user", "organization")
        .get(pk=participant.pk)
    )
    participant.meeting = meeting
    _require_open(meeting)
    if participant.state == MeetingParticipant.State.REMOVED:
        raise RemovedFromMeeting(_("The host removed you from this meeting."))
    if participant.state == MeetingParticipant.State.LOBBY:
        raise Forbidden(_("The host has not admitted you yet."), code="in_lobby")
    if participant.state == MeetingParticipant.State.LEFT:
        # Admitted before (a reload, a network blip): back in, locked or not, if the meeting has room.
        _require_room_for_one_more(meeting)
        participant.state = MeetingParticipant.State.ADMITTED
    if uses_sfu():  # LiveKit's webhooks say when they are in the room, and meter it
        participant.save(update_fields=["state"])
        _start(meeting, actor)
        return participant
    now = timezone.now()
    if participant.joined_at and participant.left_at is None:
        _close_stint(participant, now)  # a second tab or a reload: the stint before still counts once
    participant.joined_at = now
    participant.left_at = None
    participant.save(update_fields=["state", "joined_at", "left_at"])
    _start(meeting, actor)
    return participant


@transaction.atomic
def mesh_leave(participant: MeetingParticipant, joined_at: datetime | None) -> None:
    """The socket closed: the stint it opened is metered and the participant has left, unless a newer connection of
    theirs (a reload) opened a stint since, or the host removed them meanwhile. With LiveKit, its webhooks do this."""
    if uses_sfu():
        return
    current = (
        MeetingParticipant.objects.for_org(participant.organization)
        .filter(pk=participant.pk, joined_at=joined_at, left_at__isnull=True)
        .select_related("user", "meeting", "organization")
        .first()
    )
    if current is None:
        return
    _close_stint(current, timezone.now())
    if current.state == MeetingParticipant.State.ADMITTED:
        current.state = MeetingParticipant.State.LEFT
        current.save(update_fields=["state"])


def waiting(meeting: Meeting) -> list[MeetingParticipant]:
    return list(MeetingParticipant.objects.filter(meeting=meeting, state=MeetingParticipant.State.LOBBY))


def chat_post(participant: MeetingParticipant, text: str) -> MeetingMessage:
    """A chat line, kept with the meeting. Blank or over-long lines are refused."""
    text = (text or "").strip()
    if not text:
        raise ApplicationError(_("Write something first."), code="empty_message")
    if len(text) > MAX_CHAT_CHARS:
        raise ApplicationError(
            _("A chat line holds at most %(n)s characters.") % {"n": MAX_CHAT_CHARS}, code="message_too_long"
        )
    return MeetingMessage.objects.create(
        organization=participant.organization,
        meeting_id=participant.meeting_id,
        participant=participant,
        sender_name=participant.display_name,
        text=text,
    )


def chat_history(meeting: Meeting, limit: int = 100) -> list[MeetingMessage]:
    rows = list(MeetingMessage.objects.for_org(meeting.organization).filter(meeting=meeting).order_by("-pk")[:limit])
    return rows[::-1]


def end_empty_meetings(now: datetime | None = None) -> int:
    """Mesh meetings nobody has been in for ``LIVEKIT_EMPTY_TIMEOUT_SECONDS`` end, as LiveKit ends an empty room (so
    they stop counting against the plan's concurrent meetings); returns how many. Beat runs it every minute."""
    if uses_sfu():
        return 0  # LiveKit's room_finished webhook ends them
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.LIVEKIT_EMPTY_TIMEOUT_SECONDS)
    candidates = Meeting.objects.unscoped("a beat sweep over every organization's live meetings").filter(
        status=Meeting.Status.LIVE, started_at__lt=cutoff
    )
    ended = 0
    for found in candidates.select_related("organization"):
        with transaction.atomic():
            meeting = Meeting.objects.for_org(found.organization).select_for_update().get(pk=found.pk)
            if meeting.status != Meeting.Status.LIVE:
                continue
            people = MeetingParticipant.objects.for_org(meeting.organization).filter(meeting=meeting)
            if people.filter(joined_at__isnull=False, left_at__isnull=True).exists():
                continue  # someone is in the room
            last = people.aggregate(last=Max("left_at"))["last"]
            if last is not None and last > cutoff:
                continue
            _ended_by_itself(meeting, now, by="empty")
            ended += 1
    return ended


def recording_running(meeting: Meeting) -> bool:
    """Whether LiveKit is recording the meeting now (recordings.meeting_recordings): everyone's page shows it."""
    return meeting.recordings.filter(status="uploading").exists()
