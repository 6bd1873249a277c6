"""The local-storage download: a signed, expiring link stands in for S3's presigned URL (embedded mode)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from connect.nocache import no_store

from . import services
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
