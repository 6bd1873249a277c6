from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import chat_views, history_views, views, workflow_views

urlpatterns = [
    path("join", views.join, name="join"),
    # Not an id: whatever is typed here is reduced to its digits before use (a link read out "123 456 789" works).
    path("join/<str:code>", views.join, name="join_code"),
    path("s/<public_id:session_id>/", views.customer_session, name="customer_session"),
    path("s/<public_id:session_id>/rate", workflow_views.customer_rate, name="customer_rate"),
    path("s/<public_id:session_id>/agent", views.customer_attend_download, name="customer_attend_download"),
    path("o/<slug:org_slug>/sessions/", views.SessionDashboardView.as_view(), name="session_dashboard"),
    path("o/<slug:org_slug>/sessions/history/", history_views.SessionHistoryView.as_view(), name="session_history"),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/log",
        history_views.SessionLogFragmentView.as_view(),
        name="session_log_fragment",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/", views.SessionViewerView.as_view(), name="session_viewer"
    ),
    path("o/<slug:org_slug>/sessions/<public_id:session_id>/end", views.SessionEndView.as_view(), name="session_end"),
    # The viewer's chat panel (sessions.chat_views).
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/chat/transcript.txt",
        chat_views.SessionChatTranscriptPageView.as_view(),
        {"extension": "txt"},
        name="session_chat_transcript_txt",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/chat/transcript.json",
        chat_views.SessionChatTranscriptPageView.as_view(),
        {"extension": "json"},
        name="session_chat_transcript_json",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/chat/email",
        chat_views.SessionChatEmailPageView.as_view(),
        name="session_chat_email",
    ),
    # The viewer's workflow panel (sessions.workflow_views).
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/transfer",
        workflow_views.SessionTransferPageView.as_view(),
        name="session_transfer",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/details",
        workflow_views.SessionDetailsPageView.as_view(),
        name="session_details",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/notes",
        workflow_views.SessionNotePageView.as_view(),
        name="session_note_add",
    ),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/invite-email",
        workflow_views.SessionInviteEmailPageView.as_view(),
        name="session_invite_email",
    ),
]
