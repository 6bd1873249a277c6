from django.urls import path

from . import views

urlpatterns = [
    path("join", views.join, name="join"),
    path("join/<str:code>", views.join, name="join_code"),
    path("s/<str:session_id>/", views.customer_session, name="customer_session"),
    path("o/<slug:org_slug>/sessions/", views.SessionDashboardView.as_view(), name="session_dashboard"),
    path("o/<slug:org_slug>/sessions/<str:session_id>/", views.SessionViewerView.as_view(), name="session_viewer"),
    path("o/<slug:org_slug>/sessions/<str:session_id>/end", views.SessionEndView.as_view(), name="session_end"),
]
