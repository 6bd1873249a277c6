from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import api, invitation_api, views

# Included under /api/v1/ by connect.urls (names stay "v1:...").
api_urlpatterns = [
    path("meetings", api.MeetingListView.as_view(), name="meetings"),
    path("meetings/join", api.MeetingGuestJoinView.as_view(), name="meeting-guest-join"),
    path("meetings/invite", api.MeetingInviteView.as_view(), name="meeting-invite"),
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
    path(
        "meetings/<public_id:meeting_id>/invitations",
        invitation_api.MeetingInvitationsView.as_view(),
        name="meeting-invitations",
    ),
    path(
        "meetings/<public_id:meeting_id>/invitation.ics",
        invitation_api.MeetingInvitationICSView.as_view(),
        name="meeting-invitation-ics",
    ),
]

urlpatterns = [
    path("m/join", views.guest_page, name="meeting_guest"),
    path("o/<slug:org_slug>/meetings/", views.MeetingListPageView.as_view(), name="meeting_list"),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/",
        views.MeetingDetailPageView.as_view(),
        name="meeting_detail",
    ),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/join",
        views.MeetingJoinPageView.as_view(),
        name="meeting_join",
    ),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/room",
        views.MeetingRoomPageView.as_view(),
        name="meeting_room",
    ),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/meeting.ics",
        views.MeetingCalendarPageView.as_view(),
        name="meeting_calendar",
    ),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/invite-email",
        views.MeetingInviteEmailPageView.as_view(),
        name="meeting_invite_email",
    ),
    path(
        "o/<slug:org_slug>/meetings/<public_id:meeting_id>/invite",
        views.MeetingInviteRotatePageView.as_view(),
        name="meeting_invite_rotate",
    ),
]
