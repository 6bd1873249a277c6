"""API v1 for an organization's webhook endpoints and their delivery log."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, StrictSerializer
from connect.errors import NotFound
from connect.nocache import no_store

from ..models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from . import services as webhooks


class WebhookEndpointInput(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=50)
    enabled = serializers.BooleanField(required=False)


class WebhookEndpointOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    event_types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]


class WebhookEndpointSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="Verify signatures with it (Standard Webhooks, 'whsec_...').")

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["attempted_at", "status_code", "latency_ms", "response_excerpt", "error"]


class DeliveryOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    attempt_log = AttemptOutput(many=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "created_at", "attempt_log"]


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookEndpointListView(OrgAPIView):
    model = WebhookEndpoint
    required_scopes = {"GET": "webhooks:read", "POST": "webhooks:write"}
    serializer_class = WebhookEndpointOutput

    @extend_schema(
        summary="Webhook endpoints", operation_id="webhooks_list", responses=WebhookEndpointOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookEndpointOutput(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointInput, responses={201: WebhookEndpointSecretOutput}, summary="Add a webhook endpoint"
    )
    @no_store
    def post(self, request):
        data = WebhookEndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("enabled", None)
        endpoint = webhooks.endpoint_create(organization=self.org.organization, actor=self.org, **values)
        return Response(WebhookEndpointSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)


class _OneEndpointView(OrgAPIView):
    model = WebhookEndpoint
    lookup_field = "public_id"
    lookup_url_kwarg = "endpoint_id"
    serializer_class = WebhookEndpointOutput


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookEndpointDetailView(_OneEndpointView):
    required_scopes = {"GET": "webhooks:read", "PATCH": "webhooks:write", "DELETE": "webhooks:write"}

    @extend_schema(summary="One webhook endpoint")
    def get(self, request, endpoint_id: str):
        return Response(WebhookEndpointOutput(self.get_object()).data)

    @extend_schema(request=WebhookEndpointInput, summary="Change a webhook endpoint (also to enable it again)")
    def patch(self, request, endpoint_id: str):
        data = WebhookEndpointInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_update(endpoint=self.get_object(), actor=self.org, **data.validated_data)
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(responses={204: None}, summary="Remove a webhook endpoint")
    def delete(self, request, endpoint_id: str):
        webhooks.endpoint_delete(endpoint=self.get_object(), actor=self.org)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookRotateSecretView(_OneEndpointView):
    required_scopes = {"POST": "webhooks:write"}

    @extend_schema(
        request=None,
        responses=WebhookEndpointSecretOutput,
        summary="Rotate the signing secret (the old one keeps signing for 24 hours)",
    )
    @no_store
    def post(self, request, endpoint_id: str):
        endpoint = webhooks.endpoint_rotate_secret(endpoint=self.get_object(), actor=self.org)
        return Response(WebhookEndpointSecretOutput(endpoint).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookTestView(_OneEndpointView):
    required_scopes = {"POST": "webhooks:write"}

    @extend_schema(request=None, responses={202: None}, summary="Send a test event")
    def post(self, request, endpoint_id: str):
        event = webhooks.endpoint_send_test(endpoint=self.get_object())
        return Response({"event_id": event.public_id}, status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookDeliveryListView(_OneEndpointView):
    required_scopes = {"GET": "webhooks:read"}

    @extend_schema(
        responses=DeliveryOutput(many=True),
        summary="Delivery log of an endpoint",
        operation_id="webhook_deliveries_list",
    )
    def get(self, request, endpoint_id: str):
        deliveries = (
            WebhookDelivery.objects.filter(endpoint=self.get_object())
            .select_related("event")
            .prefetch_related("attempt_log")
            .order_by("-created_at")
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class WebhookRedeliverView(_OneEndpointView):
    required_scopes = {"POST": "webhooks:write"}

    @extend_schema(request=None, responses=DeliveryOutput, summary="Send a delivery again")
    def post(self, request, endpoint_id: str, delivery_id: str):
        delivery = WebhookDelivery.objects.filter(endpoint=self.get_object(), public_id=delivery_id).first()
        if delivery is None:
            raise NotFound(_("Not found."))
        return Response(DeliveryOutput(webhooks.delivery_redeliver(delivery=delivery)).data)
