from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("o/<slug:org_slug>/", views.DashboardView.as_view(), name="org_dashboard"),
    path("o/<slug:org_slug>/members/", views.MembersView.as_view(), name="org_members"),
    path(
        "o/<slug:org_slug>/invitations/<str:invitation_id>/revoke",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
]
