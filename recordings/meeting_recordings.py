"""Recordings of meetings: LiveKit's egress records the room (a composite of everyone, MP4) straight into the same
bucket as the support sessions' recordings; its ``egress_ended`` webhook completes the recording here.

Only with LiveKit (a mesh meeting has no server that sees the media) and only with object storage (egress runs on
LiveKit's machines and cannot write to this server's disk). The host (or an owner or admin) starts and stops it; the
plan must include recording, the organization's policy must allow it, and the plan's storage must have room. Everyone
in the meeting sees the indicator while it runs. Stored, metered, retained, purged, played and audited like every
recording.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from livekit import api

from connect.errors import Conflict
from meetings import livekit
from meetings import services as meeting_services
from meetings.models import Meeting
from orgs.tenancy import OrgContext
from sessions.services import SYSTEM, Actor

from . import services
from . import storage as store
from .models import Recording

EGRESS_REASON = "LiveKit's egress webhook names the egress, not the organization"
MP4 = "video/mp4"


def s3_upload() -> api.S3Upload:
    """Where egress writes: the recordings bucket, with the credentials this server uses for it."""
    config = settings.STORAGES.get("recordings", {})
    if "s3" not in config.get("BACKEND", "").lower():
        raise Conflict(
            _("Meeting recordings need object storage (S3): this installation keeps recordings on its own disk."),
            code="object_storage_required",
        )
    options = config.get("OPTIONS", {})
    return api.S3Upload(
        access_key=options.get("access_key") or "",
        secret=options.get("secret_key") or "",
        region=options.get("region_name") or "",
        endpoint=options.get("endpoint_url") or "",
        bucket=options["bucket_name"],
        force_path_style=options.get("addressing_style") == "path",
    )


@transaction.atomic
def meeting_recording_start(*, org: OrgContext, meeting: Meeting, actor: Actor) -> Recording:
    meeting = meeting_services._current(meeting)
    meeting_services.require_host(org, meeting)
    if meeting.status != Meeting.Status.LIVE:
        raise Conflict(_("Only a live meeting can be recorded."), code="meeting_not_live")
    if not meeting_services.uses_sfu():
        raise Conflict(
            _("Recording a meeting needs the SFU (LiveKit): in a meeting without one, no server sees the video."),
            code="sfu_required",
        )
    organization = meeting.organization
    services.require_may_record(organization)
    target = s3_upload()
    if Recording.objects.for_org(organization).filter(meeting=meeting, status=Recording.Status.UPLOADING).exists():
        raise Conflict(_("This meeting is being recorded already."), code="already_recording")
    recording = Recording.objects.create(
        organization=organization,
        meeting=meeting,
        content_type=MP4,
        started_by=actor.user,
        started_by_label=(actor.user.get_full_name() or actor.user.email) if actor.user else (actor.label or ""),
    )
    services._require_room(recording, 0)  # the plan's storage is full: refused before LiveKit starts anything
    recording.storage_key = f"{store.recording_prefix(organization.public_id, recording.public_id)}.mp4"
    recording.egress_id = livekit.start_room_egress(room=meeting.room_name, filepath=recording.storage_key, s3=target)
    recording.save(update_fields=["storage_key", "egress_id"])
    services._audit(recording, "recording.started", actor, {"recording_id": recording.public_id})
    services.announce(recording, "started")
    return recording


@transaction.atomic
def meeting_recording_stop(*, org: OrgContext, recording: Recording, actor: Actor) -> Recording:
    """Ask LiveKit to stop; the recording completes when its ``egress_ended`` webhook says the file is written."""
    if not recording.meeting_id:
        raise Conflict(
            _("This is a support session's recording: the agent's browser stops it."), code="not_a_meeting_recording"
        )
    meeting_services.require_host(org, recording.meeting)
    if recording.status != Recording.Status.UPLOADING:
        return recording
    livekit.stop_egress(egress_id=recording.egress_id)
    services._audit(recording, "recording.stop_requested", actor, {"recording_id": recording.public_id})
    return recording


def meeting_recordings_stop(*, org: OrgContext, meeting: Meeting, actor: Actor) -> None:
    """Stop whatever records the meeting now (the room's Record button)."""
    running = Recording.objects.for_org(meeting.organization).filter(meeting=meeting, status=Recording.Status.UPLOADING)
    for recording in running.select_related("meeting", "organization"):
        meeting_recording_stop(org=org, recording=recording, actor=actor)


def egress_ended(info) -> bool:
    """LiveKit's ``egress_ended``: the file is in the bucket (complete, metered, retained) or the egress failed.
    False when it names no recording of ours, or one already settled (a replay)."""
    found = (
        Recording.objects.unscoped(EGRESS_REASON)
        .select_related("organization", "meeting")
        .filter(egress_id=info.egress_id)
        .first()
        if info.egress_id
        else None
    )
    if found is None:
        return False
    with transaction.atomic():
        recording = services._locked(found)
        if recording.status != Recording.Status.UPLOADING:
            return False
        results = list(info.file_results) or ([info.file] if info.HasField("file") else [])
        size = sum(int(result.size) for result in results)
        if info.status != api.EgressStatus.EGRESS_COMPLETE or not size:
            Recording.objects.for_org(recording.organization).filter(pk=recording.pk).update(
                status=Recording.Status.FAILED
            )
            data = {"recording_id": recording.public_id, "error": (info.error or "no file written")[:500]}
            services._audit(recording, "recording.failed", SYSTEM, data)
            services.announce(recording, "stopped")
            return True
        services.mark_complete(recording, size=size)
        data = {"recording_id": recording.public_id, "size_bytes": size, "egress_id": info.egress_id}
        services._audit(recording, "recording.completed", SYSTEM, data)
        services.announce(recording, "stopped")
    return True
