from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/audit/", views.AuditLogView.as_view(), name="audit_log"),
    path("o/<slug:org_slug>/audit/verify", views.AuditVerifyPageView.as_view(), name="audit_verify"),
    path(
        "o/<slug:org_slug>/audit/export.csv",
        views.AuditExportPageView.as_view(),
        {"extension": "csv"},
        name="audit_export_csv",
    ),
    path(
        "o/<slug:org_slug>/audit/export.jsonl",
        views.AuditExportPageView.as_view(),
        {"extension": "jsonl"},
        name="audit_export_jsonl",
    ),
]
