from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)
from connect.nocache import no_store

from . import api, views

# Included under /api/v1/ by connect.urls (names stay "v1:...").
api_urlpatterns = [
    path("sessions/<public_id:session_id>/recordings", api.SessionRecordingsView.as_view(), name="session-recordings"),
    path("meetings/<public_id:meeting_id>/recordings", api.MeetingRecordingsView.as_view(), name="meeting-recordings"),
    path("recordings", api.RecordingListView.as_view(), name="recordings"),
    path("recordings/search", api.RecordingSearchView.as_view(), name="recording-search"),
    path("recordings/<public_id:recording_id>", api.RecordingDetailView.as_view(), name="recording"),
    path(
        "recordings/<public_id:recording_id>/chunks/<public_id:index>",
        api.RecordingChunkView.as_view(),
        name="recording-chunk",
    ),
    path(
        "recordings/<public_id:recording_id>/complete", api.RecordingCompleteView.as_view(), name="recording-complete"
    ),
    path(
        "recordings/<public_id:recording_id>/download", api.RecordingDownloadView.as_view(), name="recording-download"
    ),
    path("recordings/<public_id:recording_id>/stop", api.MeetingRecordingStopView.as_view(), name="recording-stop"),
    path(
        "recordings/<public_id:recording_id>/transcript",
        api.RecordingTranscriptView.as_view(),
        name="recording-transcript",
    ),
]

urlpatterns = [
    # The local-storage download link (the signed token is its query string): S3 hands out its own URLs instead.
    path("recordings/<public_id:recording_id>/file", views.recording_file, name="recording_file"),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/recordings/<public_id:recording_id>/",
        no_store(views.RecordingPlaybackView.as_view()),
        name="recording_playback",
    ),
    path(
        "o/<slug:org_slug>/recordings/<public_id:recording_id>/",
        no_store(views.RecordingPlaybackView.as_view()),
        name="recording_page",
    ),
]
