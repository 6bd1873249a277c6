"""Routes of webhooks: the organization's page and its API (under ``/api/v1/``)."""

from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import api, views

urlpatterns = [
    path("o/<slug:org_slug>/webhooks/", views.WebhooksView.as_view(), name="org_webhooks"),
]

api_urlpatterns = [
    path("webhooks", api.WebhookEndpointListView.as_view(), name="webhooks"),
    path("webhooks/<public_id:endpoint_id>", api.WebhookEndpointDetailView.as_view(), name="webhook"),
    path(
        "webhooks/<public_id:endpoint_id>/rotate-secret", api.WebhookRotateSecretView.as_view(), name="webhook-rotate"
    ),
    path("webhooks/<public_id:endpoint_id>/test", api.WebhookTestView.as_view(), name="webhook-test"),
    path(
        "webhooks/<public_id:endpoint_id>/deliveries",
        api.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<public_id:endpoint_id>/deliveries/<public_id:delivery_id>/redeliver",
        api.WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
