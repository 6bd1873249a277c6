from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import api

# Included under /api/v1/ by connect.urls (names stay "v1:...").
api_urlpatterns = [
    path("meetings", api.MeetingListView.as_view(), name="meetings"),
    path("meetings/join", api.MeetingGuestJoinView.as_view(), name="meeting-guest-join"),
    path("meetings/livekit/webhook", api.MeetingWebhookView.as_view(), name="meeting-livekit-webhook"),
    path("meetings/<public_id:meeting_id>", api.MeetingDetailView.as_view(), name="meeting"),
    path("meetings/<public_id:meeting_id>/join", api.MeetingJoinView.as_view(), name="meeting-join"),
    path("meetings/<public_id:meeting_id>/lock", api.MeetingLockView.as_view(), name="meeting-lock"),
    path("meetings/<public_id:meeting_id>/end", api.MeetingEndView.as_view(), name="meeting-end"),
    path(
        "meetings/<public_id:meeting_id>/participants/<public_id:participant_id>/admit",
        api.MeetingAdmitView.as_view(),
        name="meeting-participant-admit",
    ),
    path(
        "meetings/<public_id:meeting_id>/participants/<public_id:participant_id>/remove",
        api.MeetingRemoveView.as_view(),
        name="meeting-participant-remove",
    ),
    path(
        "meetings/<public_id:meeting_id>/participants/<public_id:participant_id>/mute",
        api.MeetingMuteView.as_view(),
        name="meeting-participant-mute",
    ),
]
