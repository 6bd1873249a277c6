from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import health

handler400 = "connect.errors.handler400"
handler403 = "connect.errors.handler403"
handler404 = "connect.errors.handler404"
handler500 = "connect.errors.handler500"

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", include("orgs.urls")),
]

admin.site.site_header = "BizGaze Connect administration"
admin.site.site_title = "BizGaze Connect"
