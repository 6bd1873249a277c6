"""Pages: the local-storage download (a signed, expiring link stands in for S3's presigned URL in embedded mode) and
the playback page."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views import View
from django.views.decorators.http import require_GET

from connect.errors import Forbidden, NotFound
from connect.nocache import no_store
from meetings import services as meeting_services
from orgs.views import OrgScopedMixin
from sessions import chat
from sessions import selectors as session_selectors
from sessions.selectors import SessionAction
from sessions.services import Actor

from . import selectors, services, transcripts
from .models import Recording, Transcript
from .storage import recordings_storage


@require_GET
@no_store
def recording_file(request, recording_id: str):
    """No session needed: the link itself is the credential, issued (and audited) by
    ``services.recording_download_url`` to someone who may view the recording, and valid for minutes."""
    found = services.recording_for_signed_link(recording_id, request.GET.get("token", ""))
    if found is None:
        raise Http404
    recording, disposition = found
    storage = recordings_storage()
    try:
        stored = storage.open(recording.storage_key, "rb")
    except FileNotFoundError:
        raise Http404 from None
    return FileResponse(
        stored,
        content_type=recording.content_type,
        as_attachment=disposition == "attachment",
        filename=f"{recording.public_id}.webm",
    )


class RecordingPlaybackView(OrgScopedMixin, View):
    """A recording played beside its session's log and chat, with the transcript following the playhead. Opening
    it issues a short-lived link to the file, audited as a view (``recording.viewed``)."""

    required_scope = "sessions:read"

    def get(self, request: HttpRequest, recording_id: str, session_id: str | None = None) -> HttpResponse:
        try:
            recording = selectors.recording_for(self.org, recording_id, SessionAction.VIEW)
        except NotFound:
            raise Http404 from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        session = recording.session
        if session_id is not None and (session is None or session.public_id != session_id):
            raise Http404
        url = ""
        if recording.status == Recording.Status.COMPLETE:
            url, _expires = services.recording_download_url(
                recording=recording, actor=Actor.from_request(request, "agent", request.user), disposition="inline"
            )
        transcript = Transcript.objects.for_org(recording.organization).filter(recording=recording).first()
        return self.render(
            "recordings/playback.html",
            {
                "recording": recording,
                "session": session,
                "video_url": url,
                "cues": [cue.as_dict() for cue in transcripts.cues_of(transcript)] if transcript else [],
                "meeting": recording.meeting,
                "events": session_selectors.session_events(session) if session else [],
                "chat_lines": chat.chat_lines(session) if session else [],
                "meeting_chat": meeting_services.chat_history(recording.meeting, limit=500)
                if recording.meeting
                else [],
            },
        )
