from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import views, views_privacy, views_signup

urlpatterns = [
    path("", views.home, name="home"),
    path("invitations/<public_id:token>/", views.invitation_accept, name="invitation_accept"),
    path("start/", views_signup.organization_new, name="org_new"),
    path("o/<slug:org_slug>/", views.DashboardView.as_view(), name="org_dashboard"),
    path("o/<slug:org_slug>/members/", views.MembersView.as_view(), name="org_members"),
    path("o/<slug:org_slug>/members/<public_id:user_id>/role", views.MemberRoleView.as_view(), name="member_role"),
    path(
        "o/<slug:org_slug>/members/<public_id:user_id>/remove", views.MemberRemoveView.as_view(), name="member_remove"
    ),
    path("o/<slug:org_slug>/settings/", views.OrganizationSettingsView.as_view(), name="org_settings"),
    path("o/<slug:org_slug>/settings/delete", views_privacy.OrganizationDeleteView.as_view(), name="org_delete"),
    path(
        "o/<slug:org_slug>/invitations/<public_id:invitation_id>/revoke",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
]
