"""API v1 for recordings of support sessions: start, upload chunks (resumable), complete, list, read, download,
delete. Who may do what is who may on the recording's session (``recordings.selectors``)."""

from __future__ import annotations

import base64
import binascii
import re

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from connect.api.pagination import NewestFirstCursorPagination
from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, StrictSerializer
from connect.errors import ApplicationError, NotFound
from sessions.api import _acting
from sessions.selectors import SessionAction, session_for

from . import selectors, services, transcripts
from .models import Recording, Transcript

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
CHUNK_TYPE = "application/octet-stream"


class RecordingStartedByOutput(serializers.Serializer):
    """Who started it; ``id`` is null once that person was erased (``name`` is then the recorded label)."""

    id = serializers.CharField(source="started_by.public_id", default=None, allow_null=True)
    name = serializers.CharField(source="started_by_name")


class RecordingOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    session_id = serializers.CharField(
        source="session.public_id", default=None, allow_null=True, help_text="The support session recorded, or null."
    )
    meeting_id = serializers.CharField(
        source="meeting.public_id", default=None, allow_null=True, help_text="The meeting recorded, or null."
    )
    started_by = RecordingStartedByOutput(source="*")
    chunks_received = serializers.SerializerMethodField(
        help_text="Indexes of the chunks stored so far: a resumed upload sends only the others."
    )
    chunk_max_bytes = serializers.SerializerMethodField(help_text="The largest chunk the server takes.")

    class Meta:
        model = Recording
        fields = [
            "id",
            "session_id",
            "meeting_id",
            "status",
            "content_type",
            "size_bytes",
            "sha256",
            "chunk_count",
            "chunks_received",
            "chunk_max_bytes",
            "started_by",
            "created_at",
            "completed_at",
            "purge_after",
            "purged_at",
            "purge_reason",
        ]

    def get_chunks_received(self, recording: Recording) -> list[int]:
        return selectors.chunk_indexes(recording)

    def get_chunk_max_bytes(self, recording: Recording) -> int:
        return services.chunk_max_bytes()


class RecordingChunkOutput(serializers.Serializer):
    index = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()


class RecordingCompleteInput(StrictSerializer):
    chunk_count = serializers.IntegerField(min_value=1, max_value=services.MAX_CHUNKS)
    sha256 = serializers.RegexField(SHA256_HEX, help_text="SHA-256 of the whole file, hex.")


class RecordingDownloadOutput(serializers.Serializer):
    url = serializers.CharField(help_text="Fetch the file here, without credentials, before `expires_at`.")
    expires_at = serializers.DateTimeField()


class _RecordingView(OrgAPIView):
    model = Recording
    lookup_field = "public_id"
    lookup_url_kwarg = "recording_id"
    serializer_class = RecordingOutput

    def scope_queryset(self, queryset):
        return selectors.recordings_visible(self.org, queryset)

    def recording(self, action: SessionAction) -> Recording:
        return selectors.recording_for(self.org, self.kwargs["recording_id"], action)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionRecordingsView(_RecordingView):
    lookup_url_kwarg = "session_id"  # names no recording: OPTIONS and the schema never find one here
    required_scopes = {"POST": "sessions:write"}

    @extend_schema(
        request=None,
        responses={201: RecordingOutput},
        summary="Start recording a support session",
        description="The session must be active (`409 invalid_session_state`), the plan must include recording "
        "(`402 plan_limit`). Its agent, owners and admins, or the organization's credentials. Then send the chunks "
        "(`PUT /recordings/{id}/chunks/{index}`) while recording, and complete it.",
    )
    def post(self, request, session_id: str):
        session = session_for(self.org, session_id, SessionAction.OPERATE)
        recording = services.recording_start(org=self.org, session=session, actor=_acting(request, self.org))
        return Response(
            RecordingOutput(selectors.recording_for(self.org, recording.public_id, SessionAction.VIEW)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingListView(_RecordingView):
    required_scopes = {"GET": "sessions:read"}
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        summary="Recordings",
        description="Recordings of the sessions the caller may see, and of the organization's meetings, newest first.",
        operation_id="recordings_list",
        responses=RecordingOutput(many=True),
        parameters=[
            OpenApiParameter("session_id", str, description="Only this session's recordings."),
            OpenApiParameter("meeting_id", str, description="Only this meeting's recordings."),
        ],
    )
    def get(self, request):
        queryset = self.get_queryset()
        if request.query_params.get("session_id"):
            queryset = queryset.filter(session__public_id=request.query_params["session_id"])
        if request.query_params.get("meeting_id"):
            queryset = queryset.filter(meeting__public_id=request.query_params["meeting_id"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(RecordingOutput(page, many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingDetailView(_RecordingView):
    required_scopes = {"GET": "sessions:read", "DELETE": "sessions:write"}

    @extend_schema(
        summary="One recording",
        description="`chunks_received` lists the chunks stored: an interrupted upload resumes with the others.",
        responses=RecordingOutput,
    )
    def get(self, request, recording_id: str):
        return Response(RecordingOutput(self.recording(SessionAction.VIEW)).data)

    @extend_schema(
        summary="Delete a recording",
        description="Its file (or the chunks of an upload under way) is deleted and the storage given back; the "
        "recording stays listed as `purged`. Who may operate the session.",
        responses={200: RecordingOutput},
    )
    def delete(self, request, recording_id: str):
        recording = services.recording_delete(
            recording=self.recording(SessionAction.OPERATE), actor=_acting(request, self.org)
        )
        return Response(RecordingOutput(recording).data)


def _chunk_digest(request) -> str:
    """The chunk's SHA-256 (hex) from ``X-Chunk-SHA256`` (hex), else ``Digest: sha-256=<base64>`` (RFC 3230)."""
    sent = request.headers.get("X-Chunk-SHA256", "").strip()
    if sent:
        if not SHA256_HEX.match(sent):
            raise ApplicationError(
                _("X-Chunk-SHA256 must be the chunk's SHA-256 in hex (64 characters)."),
                code="validation_error",
                details={"header": "X-Chunk-SHA256"},
            )
        return sent.lower()
    for part in request.headers.get("Digest", "").split(","):
        algorithm, _sep, value = part.strip().partition("=")
        if algorithm.lower() == "sha-256" and value:
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == 32:
                return raw.hex()
            raise ApplicationError(
                _("Digest's sha-256 must be the chunk's SHA-256 in base64."),
                code="validation_error",
                details={"header": "Digest"},
            )
    raise ApplicationError(
        _("Send the chunk's SHA-256 in X-Chunk-SHA256 (hex) or Digest (sha-256=<base64>)."),
        code="digest_required",
        details={"header": "X-Chunk-SHA256"},
    )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingChunkView(_RecordingView):
    required_scopes = {"PUT": "sessions:write"}

    @extend_schema(
        request={CHUNK_TYPE: OpenApiTypes.BINARY},
        responses={200: RecordingChunkOutput, 201: RecordingChunkOutput},
        summary="Upload one chunk of a recording",
        description="The raw bytes, `Content-Type: application/octet-stream`, with their SHA-256 in `X-Chunk-SHA256` "
        "(hex) or `Digest: sha-256=<base64>`. `201` stored; `200` the same bytes were already stored (nothing "
        "changes); `400 chunk_hash_mismatch` damaged on the way (send it again); `409 chunk_conflict` other bytes "
        "for a stored index; `413` larger than `chunk_max_bytes`; `402 plan_limit` past the plan's recording "
        "storage. Nothing is stored when refused.",
        parameters=[
            OpenApiParameter("X-Chunk-SHA256", str, OpenApiParameter.HEADER, description="SHA-256 of the body, hex."),
            OpenApiParameter("Digest", str, OpenApiParameter.HEADER, description="`sha-256=<base64>` (RFC 3230)."),
        ],
    )
    def put(self, request, recording_id: str, index: str):
        if request.content_type.split(";")[0].strip().lower() != CHUNK_TYPE:
            raise ApplicationError(
                _("Send a chunk as '%(type)s', not '%(sent)s'.") % {"type": CHUNK_TYPE, "sent": request.content_type},
                code="unsupported_media_type",
                status_code=415,
                details={"content_type": request.content_type},
            )
        if not (index.isascii() and index.isdigit() and len(index) <= 6):
            raise ApplicationError(
                _("A chunk index is a whole number from 0."), code="validation_error", details={"field": "index"}
            )
        digest = _chunk_digest(request)
        recording = self.recording(SessionAction.OPERATE)
        chunk, created = services.recording_chunk_put(
            recording=recording, index=int(index), data=request.body, sha256=digest
        )
        return Response(
            RecordingChunkOutput(chunk).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingCompleteView(_RecordingView):
    required_scopes = {"POST": "sessions:write"}

    @extend_schema(
        request=RecordingCompleteInput,
        responses=RecordingOutput,
        summary="Complete a recording",
        description="Assembles chunks `0 .. chunk_count-1` and checks the whole file's SHA-256. "
        "`409 chunks_missing` names the chunks not received (`details.missing`); `409 recording_hash_mismatch` "
        "when the chunks do not make that file. Completing again with the same figures changes nothing.",
    )
    def post(self, request, recording_id: str):
        data = RecordingCompleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        recording = services.recording_complete(
            recording=self.recording(SessionAction.OPERATE),
            chunk_count=data.validated_data["chunk_count"],
            sha256=data.validated_data["sha256"],
            actor=_acting(request, self.org),
        )
        return Response(
            RecordingOutput(selectors.recording_for(self.org, recording.public_id, SessionAction.VIEW)).data
        )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingDownloadView(_RecordingView):
    required_scopes = {"GET": "sessions:read"}

    @extend_schema(
        summary="A short-lived link to a recording's file",
        description="Presigned by the object store (or signed by the server for local files), valid for "
        "`CONNECT_RECORDINGS_URL_SECONDS`. Every link handed out is audited: `disposition=inline` (to play it) as "
        "`recording.viewed`, `attachment` (the default, to save it) as `recording.downloaded`. `409 "
        "recording_not_complete` before it is complete or once purged.",
        responses=RecordingDownloadOutput,
        parameters=[OpenApiParameter("disposition", str, enum=list(services.DISPOSITIONS))],
    )
    def get(self, request, recording_id: str):
        url, expires_at = services.recording_download_url(
            recording=self.recording(SessionAction.VIEW),
            actor=_acting(request, self.org),
            disposition=request.query_params.get("disposition", "attachment"),
        )
        return Response(RecordingDownloadOutput({"url": url, "expires_at": expires_at}).data)


class RecordingTranscriptInput(StrictSerializer):
    vtt = serializers.CharField(trim_whitespace=False, help_text="The transcript, a WebVTT document.")
    language = serializers.CharField(max_length=35, required=False, default="en")


class RecordingTranscriptCue(serializers.Serializer):
    start = serializers.FloatField(help_text="Seconds from the start of the recording.")
    end = serializers.FloatField()
    text = serializers.CharField()


class RecordingTranscriptOutput(serializers.Serializer):
    recording = serializers.CharField(source="recording.public_id")
    language = serializers.CharField()
    source = serializers.CharField()
    cue_count = serializers.IntegerField()
    cues = serializers.SerializerMethodField()
    vtt = serializers.CharField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(RecordingTranscriptCue(many=True))
    def get_cues(self, transcript) -> list[dict]:
        return [cue.as_dict() for cue in transcripts.cues_of(transcript)]


class RecordingSearchHit(serializers.Serializer):
    recording = serializers.CharField(source="transcript.recording.public_id")
    session = serializers.CharField(source="transcript.recording.session.public_id", default=None, allow_null=True)
    meeting = serializers.CharField(source="transcript.recording.meeting.public_id", default=None, allow_null=True)
    customer_name = serializers.CharField(source="transcript.recording.session.customer_name", default="")
    recorded_at = serializers.DateTimeField(source="transcript.recording.created_at")
    start = serializers.FloatField(source="cue.start", allow_null=True, default=None)
    snippet = serializers.CharField(source="cue.text", allow_null=True, default=None)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingTranscriptView(_RecordingView):
    required_scopes = {"GET": "sessions:read", "PUT": "sessions:write"}

    @extend_schema(
        summary="A recording's transcript",
        description="Its cues (start and end in seconds) and the WebVTT itself. `404` when it has none.",
        responses=RecordingTranscriptOutput,
    )
    def get(self, request, recording_id: str):
        recording = self.recording(SessionAction.VIEW)
        transcript = Transcript.objects.for_org(self.org.organization).filter(recording=recording).first()
        if transcript is None:
            raise NotFound(_("This recording has no transcript."), code="no_transcript")
        return Response(RecordingTranscriptOutput(transcript).data)

    @extend_schema(
        summary="Attach a transcript to a recording",
        description="A WebVTT document (`400 invalid_transcript` when it is not one or has no cues); it replaces "
        "any earlier one. The recording must be complete (`409 recording_not_complete`). Audited.",
        request=RecordingTranscriptInput,
        responses=RecordingTranscriptOutput,
    )
    def put(self, request, recording_id: str):
        data = RecordingTranscriptInput(data=request.data)
        data.is_valid(raise_exception=True)
        transcript = transcripts.transcript_put(
            recording=self.recording(SessionAction.OPERATE),
            vtt=data.validated_data["vtt"],
            language=data.validated_data["language"],
            actor=_acting(request, self.org),
        )
        return Response(RecordingTranscriptOutput(transcript).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class RecordingSearchView(OrgAPIView):
    required_scopes = {"GET": "sessions:read"}
    pagination_class = None  # the 20 best hits, not a list to page through

    @extend_schema(
        summary="Search the organization's transcripts",
        description="Recordings whose transcript holds the words of `q` (full-text on PostgreSQL: words, "
        '"phrases", -excluded; every word on SQLite), among those the caller may see, newest first, at most 20, '
        "each with the first cue that holds a word (`start`, to play from there).",
        parameters=[OpenApiParameter("q", str, required=True)],
        responses=RecordingSearchHit(many=True),
    )
    def get(self, request):
        hits = transcripts.transcript_search(self.org, request.query_params.get("q", ""))
        return Response(RecordingSearchHit(hits, many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingRecordingsView(OrgAPIView):
    """Start recording a meeting: LiveKit's egress writes it into the recordings bucket."""

    model = Recording
    lookup_url_kwarg = "meeting_id"  # names no recording: OPTIONS and the schema never find one here
    required_scopes = {"POST": "meetings:write"}
    serializer_class = RecordingOutput

    @extend_schema(
        request=None,
        responses={201: RecordingOutput},
        summary="Start recording a meeting (host)",
        description="LiveKit records the room (everyone, as an MP4) straight into the recordings bucket; the recording "
        "is `uploading` until LiveKit's `egress_ended` webhook says the file is written. `409 sfu_required` without "
        "LiveKit, `409 object_storage_required` without S3, `409 meeting_not_live`, `409 already_recording`, "
        "`403 recording_disabled` (the organization's policy), `403 not_meeting_host`, `402 plan_limit`.",
    )
    def post(self, request, meeting_id: str):
        from meetings.services import meeting_for

        from . import meeting_recordings

        recording = meeting_recordings.meeting_recording_start(
            org=self.org, meeting=meeting_for(self.org, meeting_id), actor=_acting(request, self.org)
        )
        found = selectors.recording_for(self.org, recording.public_id, SessionAction.VIEW)
        return Response(RecordingOutput(found).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingRecordingStopView(_RecordingView):
    required_scopes = {"POST": "meetings:write"}

    @extend_schema(
        request=None,
        responses=RecordingOutput,
        summary="Stop recording a meeting (host)",
        description="LiveKit finishes the file; the recording becomes `complete` when its webhook arrives. "
        "`409 not_a_meeting_recording` for a support session's recording (the agent's browser stops those).",
    )
    def post(self, request, recording_id: str):
        from . import meeting_recordings

        recording = meeting_recordings.meeting_recording_stop(
            org=self.org, recording=self.recording(SessionAction.VIEW), actor=_acting(request, self.org)
        )
        return Response(RecordingOutput(recording).data)
