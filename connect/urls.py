from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from audit import api as audit_api
from billing import urls as billing_urls
from integrations.credentials import urls as credentials_urls
from integrations.webhooks import urls as webhooks_urls
from machines import urls as machines_urls
from meetings import urls as meetings_urls
from orgs import api as orgs_api
from orgs import views_device, views_mfa, views_privacy
from push import urls as push_urls
from recordings import urls as recordings_urls
from sessions import api as session_api
from sessions import chat_api as session_chat_api
from signaling import api as signaling_api

from . import (
    converters,  # noqa: F401  (registers <public_id:...>)
    health,
    metrics,
)
from .nocache import no_store

handler400 = "connect.errors.handler400"
handler403 = "connect.errors.handler403"
handler404 = "connect.errors.handler404"
handler500 = "connect.errors.handler500"

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # Swagger UI sets style attributes from its script: the reference page alone allows inline styles
    # (never inline scripts; its script is a separate file).
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="v1:schema")),
        name="docs",
    ),
    path("auth/token", orgs_api.TokenView.as_view(), name="auth-token"),
    path("auth/device", orgs_api.DeviceAuthorizationView.as_view(), name="auth-device"),
    path("auth/refresh", orgs_api.RefreshView.as_view(), name="auth-refresh"),
    path("auth/revoke", orgs_api.RevokeView.as_view(), name="auth-revoke"),
    path("me", orgs_api.MeView.as_view(), name="me"),
    path("me/export", orgs_api.MeExportView.as_view(), name="me-export"),
    path("devices", orgs_api.DeviceListView.as_view(), name="devices"),
    path("devices/<public_id:device_id>", orgs_api.DeviceDetailView.as_view(), name="device"),
    path("ws-ticket", no_store(signaling_api.WebSocketTicketView.as_view()), name="ws-ticket"),
    path("ice-servers", session_api.IceServersView.as_view(), name="ice-servers"),
    path("join", session_api.JoinView.as_view(), name="join"),
    path("join/attend", session_api.AttendView.as_view(), name="join-attend"),
    path("sessions", session_api.SessionListView.as_view(), name="sessions"),
    path("sessions/<public_id:session_id>", session_api.SessionDetailView.as_view(), name="session"),
    path("sessions/<public_id:session_id>/events", session_api.SessionEventsView.as_view(), name="session-events"),
    path("sessions/<public_id:session_id>/end", session_api.SessionEndView.as_view(), name="session-end"),
    path("sessions/<public_id:session_id>/chat", session_chat_api.SessionChatView.as_view(), name="session-chat"),
    path(
        "sessions/<public_id:session_id>/chat/transcript.txt",
        session_chat_api.SessionChatTranscriptTextView.as_view(),
        name="session-chat-transcript-txt",
    ),
    path(
        "sessions/<public_id:session_id>/chat/transcript.json",
        session_chat_api.SessionChatTranscriptJSONView.as_view(),
        name="session-chat-transcript-json",
    ),
    path("sessions/<public_id:session_id>/notes", session_api.SessionNotesView.as_view(), name="session-notes"),
    path(
        "sessions/<public_id:session_id>/transfer", session_api.SessionTransferView.as_view(), name="session-transfer"
    ),
    path(
        "sessions/<public_id:session_id>/invite-email",
        session_api.SessionInviteEmailView.as_view(),
        name="session-invite-email",
    ),
    path("organization", orgs_api.OrganizationView.as_view(), name="organization"),
    path("audit", audit_api.AuditListView.as_view(), name="audit"),
    path("audit/verify", audit_api.AuditVerifyView.as_view(), name="audit-verify"),
    path("audit/export.csv", audit_api.AuditExportCSVView.as_view(), name="audit-export-csv"),
    path("audit/export.jsonl", audit_api.AuditExportJSONLinesView.as_view(), name="audit-export-jsonl"),
    path("members", orgs_api.MemberListView.as_view(), name="members"),
    path("members/<public_id:member_id>", orgs_api.MemberDetailView.as_view(), name="member"),
    path("invitations", orgs_api.InvitationListView.as_view(), name="invitations"),
    path("invitations/<public_id:invitation_id>", orgs_api.InvitationDetailView.as_view(), name="invitation"),
    # Each integrations package routes its own API (no namespace of their own: the names stay "v1:...").
    path("", include(credentials_urls.api_urlpatterns)),
    path("", include(webhooks_urls.api_urlpatterns)),
    path("", include(billing_urls.api_urlpatterns)),
    path("", include(machines_urls.api_urlpatterns)),
    path("", include(meetings_urls.api_urlpatterns)),
    path("", include(push_urls.api_urlpatterns)),
    path("", include(recordings_urls.api_urlpatterns)),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus; allowed addresses only (connect.metrics)
    path("admin/", admin.site.urls),
    path("accounts/2fa/", views_mfa.mfa_verify, name="mfa_verify"),
    path("account/security/", views_mfa.security, name="account_security"),
    path("device/", views_device.device_verification, name="device_verification"),
    path("account/data/export", views_privacy.account_export, name="account_export"),
    path("account/delete/", views_privacy.account_delete, name="account_delete"),
    # Before allauth's: its sign-in page is replaced (addresses of an organization with SSO go to its provider).
    path("", include("integrations.sso.urls")),
    path("accounts/", include("allauth.urls")),
    path("oauth/", include((credentials_urls.oauth_urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", include("audit.urls")),
    path("", include("sessions.urls")),
    path("", include("orgs.urls")),
    path("", include("integrations.credentials.urls")),
    path("", include("integrations.webhooks.urls")),
    path("", include("billing.urls")),
    path("", include("machines.urls")),
    path("", include("recordings.urls")),
    path("", include("meetings.urls")),
]

admin.site.site_header = "BizGaze Connect administration"
admin.site.site_title = "BizGaze Connect"
