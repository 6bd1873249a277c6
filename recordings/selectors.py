"""Reads of recordings. Who may see or act on a session's recording is who may on its session (``sessions.selectors``):
one rule for both, so a recording never shows more than the session it was made in. A meeting's recording is seen by
whoever may see the meeting (the organization's members), and deleted by its host, owners and admins."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from connect.errors import NotFound
from orgs.tenancy import OrgContext, get_for_org_or_404
from sessions.selectors import SessionAction, session_check_access, sessions_visible

from .models import Recording, RecordingChunk

MEETINGS_READ = "meetings:read"


def _with_chunks(queryset: QuerySet[Recording]) -> QuerySet[Recording]:
    """The indexes received come with each recording: one query for a whole page."""
    return queryset.select_related("session", "meeting", "started_by", "organization").prefetch_related(
        Prefetch("chunks", queryset=RecordingChunk.objects.only("id", "recording_id", "index").order_by("index"))
    )


def recordings_visible(ctx: OrgContext, queryset: QuerySet[Recording] | None = None) -> QuerySet[Recording]:
    """The recordings of the sessions ``ctx`` may view, and of the organization's meetings when it may see those
    (every member may: meetings.services.meeting_for)."""
    queryset = (queryset if queryset is not None else Recording.objects.all()).for_org(ctx.organization)
    visible = Q(session__in=sessions_visible(ctx).values("pk"))
    if ctx.has_scope(MEETINGS_READ):
        visible |= Q(meeting__isnull=False)
    return _with_chunks(queryset.filter(visible))


def recording_for(ctx: OrgContext, recording_id: str, action: SessionAction) -> Recording:
    """The recording ``recording_id`` of ``ctx``'s organization, if ``ctx`` may ``action`` its session: 404 when it
    may not even view it, 403 when it may view but not this (as for the session itself)."""
    try:
        recording = get_for_org_or_404(_with_chunks(Recording.objects.all()), ctx.organization, public_id=recording_id)
    except NotFound:
        raise NotFound(_("Recording not found.")) from None
    if recording.meeting_id:
        if not ctx.has_scope(MEETINGS_READ):
            raise NotFound(_("Recording not found."))
        if action != SessionAction.VIEW:
            from meetings.services import require_host

            require_host(ctx, recording.meeting)  # 403: its host, owners and admins delete it
        return recording
    try:
        session_check_access(ctx, recording.session, action)
    except NotFound:
        raise NotFound(_("Recording not found.")) from None
    return recording


def chunk_indexes(recording: Recording) -> list[int]:
    """The chunk indexes received so far (what a resumed upload need not send again)."""
    return [chunk.index for chunk in recording.chunks.all()]
