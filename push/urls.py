"""Routes of push notifications: its API only (under ``/api/v1/``)."""

from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import api

api_urlpatterns = [
    path("push/registrations", api.RegistrationListView.as_view(), name="push-registrations"),
    path(
        "push/registrations/<public_id:registration_id>",
        api.RegistrationDetailView.as_view(),
        name="push-registration",
    ),
    path("push/preferences", api.PreferenceView.as_view(), name="push-preferences"),
]
