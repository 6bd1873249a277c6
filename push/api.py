"""API v1 for push notifications: a native app registers its installation's token; a person reads and sets their
preferences. Person credentials only (an organization's API key has no phone)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connect.api.permissions import IsPerson
from connect.api.views import StrictSerializer
from orgs.models import Device

from . import services
from .models import PushPreference, PushRegistration

# --- Serializers -------------------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "22:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time of day, ``HH:MM``: in the person's time zone, so it carries no offset (which OpenAPI's
    ``format: time`` would require)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)


class PushRegistrationInput(StrictSerializer):
    provider = serializers.ChoiceField(choices=PushRegistration.Provider.choices)
    token = serializers.CharField(max_length=4096, help_text="The APNs device token or the FCM registration token.")
    platform = serializers.ChoiceField(
        choices=Device.Platform.choices, required=False, help_text="Defaults to the device's platform."
    )
    app_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    locale = serializers.CharField(
        max_length=35, required=False, allow_blank=True, help_text="The app's language, e.g. 'en' or 'de-AT'."
    )


class PushRegistrationOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    device_id = serializers.CharField(source="device.public_id")
    current = serializers.SerializerMethodField(help_text="Whether this is the calling app installation.")

    class Meta:
        model = PushRegistration
        fields = [
            "id",
            "device_id",
            "provider",
            "platform",
            "app_version",
            "locale",
            "created_at",
            "updated_at",
            "current",
        ]

    def get_current(self, registration: PushRegistration) -> bool:
        principal = self.context["request"].auth
        return principal.kind == "native" and principal.credential_id == registration.device.public_id


class PushPreferenceInput(StrictSerializer):
    session_request = serializers.BooleanField(required=False)
    customer_waiting = serializers.BooleanField(required=False)
    transfer = serializers.BooleanField(required=False)
    meeting_invitation = serializers.BooleanField(required=False)
    quiet_hours_start = LocalTimeField(required=False, allow_null=True, help_text="Local time, e.g. 22:00.")
    quiet_hours_end = LocalTimeField(required=False, allow_null=True, help_text="May be earlier than the start.")
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name, e.g. Europe/Paris.")


class PushPreferenceOutput(serializers.ModelSerializer):
    quiet_hours_start = LocalTimeField(allow_null=True)
    quiet_hours_end = LocalTimeField(allow_null=True)

    class Meta:
        model = PushPreference
        fields = [*services.PREFERENCE_KINDS, "quiet_hours_start", "quiet_hours_end", "timezone"]


# --- Views -------------------------------------------------------------------------------------------------------


class RegistrationListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="push_registrations_list",
        responses=PushRegistrationOutput(many=True),
        summary="My push registrations",
        description="The app installations of the calling person that receive push notifications.",
    )
    def get(self, request):
        rows = services.registrations_of(request.auth.user)
        return Response(PushRegistrationOutput(rows, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="push_registrations_create",
        request=PushRegistrationInput,
        responses={200: PushRegistrationOutput},
        summary="Register this app installation for push notifications",
        description="Native app access tokens only: one registration per installation, so registering again (a new "
        "token after a reinstall or a token refresh) replaces the previous one.",
    )
    def post(self, request):
        device = services.device_of_principal(request.auth)
        data = PushRegistrationInput(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.registration_register(device=device, **data.validated_data)
        return Response(PushRegistrationOutput(registration, context={"request": request}).data)

    @extend_schema(
        operation_id="push_registrations_delete_current",
        responses={204: None},
        summary="Stop push notifications to this app installation",
        description="Native app access tokens only. Signing the app out (revoking its device) stops them as well.",
    )
    def delete(self, request):
        services.registration_unregister_device(device=services.device_of_principal(request.auth))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegistrationDetailView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="push_registration_get", responses=PushRegistrationOutput, summary="One push registration"
    )
    def get(self, request, registration_id: str):
        registration = services.registration_of(request.auth.user, registration_id)
        return Response(PushRegistrationOutput(registration, context={"request": request}).data)

    @extend_schema(
        operation_id="push_registration_delete",
        responses={204: None},
        summary="Stop push notifications to one of my app installations",
    )
    def delete(self, request, registration_id: str):
        registration = services.registration_of(request.auth.user, registration_id)
        services.registration_disable(registration=registration, reason="unregistered")
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferenceView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(operation_id="push_preferences_get", responses=PushPreferenceOutput, summary="My push preferences")
    def get(self, request):
        return Response(PushPreferenceOutput(services.preference_of(request.auth.user)).data)

    @extend_schema(
        operation_id="push_preferences_update",
        request=PushPreferenceInput,
        responses=PushPreferenceOutput,
        summary="Change my push preferences",
        description="Fields left out keep their value. Quiet hours (both ends, or both null) hold back transfers and "
        "meeting invitations, never a customer waiting or an incoming session.",
    )
    def put(self, request):
        data = PushPreferenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        preference = services.preference_update(user=request.auth.user, **data.validated_data)
        return Response(PushPreferenceOutput(preference).data)
