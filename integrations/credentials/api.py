"""API v1 for an organization's credentials: its API keys and OAuth2 applications."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, StrictSerializer
from connect.nocache import no_store

from ..models import APIKey, Application
from . import services


class APIKeyInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1, max_length=50)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class APIKeyOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    scopes = serializers.ListField(child=serializers.CharField())
    # None for a key created with an API key, or when its creator has left.
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)

    class Meta:
        model = APIKey
        fields = ["id", "name", "prefix", "scopes", "state", "created_by", "created_at", "expires_at", "last_used_at"]


class APIKeyCreatedOutput(APIKeyOutput):
    key = serializers.CharField(help_text="The key itself. Shown only in this response; store it now.")

    class Meta(APIKeyOutput.Meta):
        fields = [*APIKeyOutput.Meta.fields, "key"]


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class APIKeyListView(OrgAPIView):
    model = APIKey
    required_scopes = {"GET": "api_keys:read", "POST": "api_keys:write"}
    serializer_class = APIKeyOutput

    def scope_queryset(self, queryset):
        return queryset.filter(revoked_at__isnull=True).select_related("created_by")

    @extend_schema(
        summary="API keys of the organization", operation_id="api_keys_list", responses=APIKeyOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(APIKeyOutput(page, many=True).data)

    @extend_schema(request=APIKeyInput, responses={201: APIKeyCreatedOutput}, summary="Create an API key")
    @no_store
    def post(self, request):
        data = APIKeyInput(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.api_key_create(org=self.org, **data.validated_data)
        key.key = secret
        return Response(APIKeyCreatedOutput(key).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class APIKeyDetailView(OrgAPIView):
    model = APIKey
    required_scopes = {"GET": "api_keys:read", "DELETE": "api_keys:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "key_id"
    serializer_class = APIKeyOutput

    @extend_schema(summary="One API key")
    def get(self, request, key_id: str):
        return Response(APIKeyOutput(self.get_object()).data)

    @extend_schema(responses={204: None}, summary="Revoke an API key")
    def delete(self, request, key_id: str):
        services.api_key_revoke(key=self.get_object(), by=self.org)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OAuthAppInput(StrictSerializer):
    name = serializers.CharField(max_length=255)
    grant_type = serializers.ChoiceField(
        choices=[Application.GRANT_CLIENT_CREDENTIALS, Application.GRANT_AUTHORIZATION_CODE]
    )
    client_type = serializers.ChoiceField(choices=Application.CLIENT_TYPES, default=Application.CLIENT_CONFIDENTIAL)
    scopes = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1, max_length=50)
    redirect_uris = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, max_length=20
    )


class OAuthAppOutput(serializers.ModelSerializer):
    grant_type = serializers.CharField(source="authorization_grant_type")
    scopes = serializers.ListField(child=serializers.CharField())
    redirect_uris = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = ["client_id", "name", "client_type", "grant_type", "scopes", "redirect_uris", "created"]

    def get_redirect_uris(self, app: Application) -> list[str]:
        return app.redirect_uris.split()


class OAuthAppCreatedOutput(OAuthAppOutput):
    client_secret = serializers.CharField(help_text="Shown only in this response; store it now.")

    class Meta(OAuthAppOutput.Meta):
        fields = [*OAuthAppOutput.Meta.fields, "client_secret"]


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class OAuthAppListView(OrgAPIView):
    model = Application
    required_scopes = {"GET": "api_keys:read", "POST": "api_keys:write"}
    serializer_class = OAuthAppOutput

    @extend_schema(
        summary="OAuth2 applications of the organization",
        operation_id="oauth_apps_list",
        responses=OAuthAppOutput(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset().order_by("-created"))
        return self.get_paginated_response(OAuthAppOutput(page, many=True).data)

    @extend_schema(request=OAuthAppInput, responses={201: OAuthAppCreatedOutput}, summary="Register an OAuth2 app")
    @no_store
    def post(self, request):
        data = OAuthAppInput(data=request.data)
        data.is_valid(raise_exception=True)
        app, secret = services.oauth_application_create(org=self.org, **data.validated_data)
        app.client_secret = secret
        return Response(OAuthAppCreatedOutput(app).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class OAuthAppDetailView(OrgAPIView):
    model = Application
    required_scopes = {"GET": "api_keys:read", "DELETE": "api_keys:write"}
    lookup_field = "client_id"
    serializer_class = OAuthAppOutput

    @extend_schema(summary="One OAuth2 application")
    def get(self, request, client_id: str):
        return Response(OAuthAppOutput(self.get_object()).data)

    @extend_schema(responses={204: None}, summary="Delete an OAuth2 application and end its tokens")
    def delete(self, request, client_id: str):
        services.oauth_application_delete(application=self.get_object(), by=self.org)
        return Response(status=status.HTTP_204_NO_CONTENT)
