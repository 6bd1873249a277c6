from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import api, views

# Included under /api/v1/ by connect.urls (names stay "v1:...").
api_urlpatterns = [
    path("machines/enroll", api.EnrollView.as_view(), name="machine-enroll"),
    path("machines", api.MachineListView.as_view(), name="machines"),
    path("machines/<public_id:machine_id>", api.MachineDetailView.as_view(), name="machine"),
    path("machines/<public_id:machine_id>/sessions", api.MachineConnectView.as_view(), name="machine-connect"),
    path(
        "machines/<public_id:machine_id>/connections", api.MachineConnectionsView.as_view(), name="machine-connections"
    ),
    path("machine-groups", api.GroupListView.as_view(), name="machine-groups"),
    path("machine-groups/<public_id:group_id>", api.GroupDetailView.as_view(), name="machine-group"),
    path("machine-enrollment-tokens", api.TokenListView.as_view(), name="machine-enrollment-tokens"),
    path(
        "machine-enrollment-tokens/<public_id:token_id>", api.TokenDetailView.as_view(), name="machine-enrollment-token"
    ),
]

urlpatterns = [
    path("o/<slug:org_slug>/machines/", views.MachineListPageView.as_view(), name="machine_list"),
    path("o/<slug:org_slug>/machines/enroll/", views.EnrollmentPageView.as_view(), name="machine_enrollment"),
    path(
        "o/<slug:org_slug>/machines/groups/<public_id:group_id>/", views.GroupPageView.as_view(), name="machine_group"
    ),
    path(
        "o/<slug:org_slug>/machines/<public_id:machine_id>/",
        views.MachineDetailPageView.as_view(),
        name="machine_detail",
    ),
    path(
        "o/<slug:org_slug>/machines/<public_id:machine_id>/connect",
        views.MachineConnectPageView.as_view(),
        name="machine_connect",
    ),
]
