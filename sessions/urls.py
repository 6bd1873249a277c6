from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import views

urlpatterns = [
    path("join", views.join, name="join"),
    # Not an id: whatever is typed here is reduced to its digits before use (a link read out "123 456 789" works).
    path("join/<str:code>", views.join, name="join_code"),
    path("s/<public_id:session_id>/", views.customer_session, name="customer_session"),
    path("o/<slug:org_slug>/sessions/", views.SessionDashboardView.as_view(), name="session_dashboard"),
    path(
        "o/<slug:org_slug>/sessions/<public_id:session_id>/", views.SessionViewerView.as_view(), name="session_viewer"
    ),
    path("o/<slug:org_slug>/sessions/<public_id:session_id>/end", views.SessionEndView.as_view(), name="session_end"),
]
