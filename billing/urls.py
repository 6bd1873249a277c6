"""Pages (plan and billing, usage) and the API routes of billing; connect.urls includes both lists."""

from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/billing/", views.BillingView.as_view(), name="org_billing"),
]

# Under /api/v1/ (names "v1:...").
api_urlpatterns: list = []

# Usage metering (billing.views_usage, billing.api).
from . import api as usage_api  # noqa: E402
from . import views_usage  # noqa: E402

urlpatterns += [
    path("o/<slug:org_slug>/usage/", views_usage.UsageView.as_view(), name="org_usage"),
]
api_urlpatterns += [
    path("usage", usage_api.UsageView.as_view(), name="usage"),
]

# Stripe's webhooks (billing.stripe_events): the endpoint of STRIPE_WEBHOOK_SECRET, and those made in dj-stripe's admin
# (which names its URL "djstripe:djstripe_webhook_by_uuid").
from django.urls import include  # noqa: E402

from . import stripe_events  # noqa: E402

urlpatterns += [
    path("billing/stripe/webhook/", stripe_events.webhook, name="stripe_webhook"),
    path(
        "billing/stripe/",
        include(
            (
                [path("webhook/<uuid:uuid>/", stripe_events.webhook_by_uuid, name="djstripe_webhook_by_uuid")],
                "djstripe",
            )
        ),
    ),
]
