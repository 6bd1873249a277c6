"""API v1 for people: native-app sign-in and tokens, the current user, devices, members and invitations."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from connect.api.authentication import CookieAuthentication, NativeTokenAuthentication, OAuth2TokenAuthentication
from connect.api.parsers import JSONParser
from connect.api.permissions import APIKeyRefusedForPersons, IsPerson
from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, PublicAPIView, StrictSerializer
from connect.errors import ApplicationError, Forbidden, NotFound
from connect.links import absolute_url
from connect.nocache import no_store

from . import device_grant, devices, mfa, privacy, selectors, services
from .access import Assurance, person_refusal
from .models import Device, Invitation, Membership, Organization, Role
from .security import lockout_message

# Endpoints about a person act only for credentials that stand for a person (IsPerson). An organization's credential
# (an API key, a client-credentials token) is still recognised, so it is told it needs a person's (403
# person_required) rather than that no credential was given.
PERSON_AUTHENTICATION = [
    NativeTokenAuthentication,
    APIKeyRefusedForPersons,
    OAuth2TokenAuthentication,
    CookieAuthentication,
]

# --- Serializers ------------------------------------------------------------------------------------


class DeviceInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    push_token = serializers.CharField(max_length=512, required=False, allow_blank=True)


class TokenInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    otp = serializers.CharField(max_length=32, required=False, allow_blank=True)
    device = DeviceInput()


class RefreshInput(StrictSerializer):
    refresh_token = serializers.CharField(max_length=200)


class RevokeInput(StrictSerializer):
    token = serializers.CharField(max_length=200)


class TokenOutput(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    device_id = serializers.CharField()


class DeviceAuthorizationInput(StrictSerializer):
    """What a client without a keyboard says about itself to start a device sign-in (RFC 8628)."""

    client_name = serializers.CharField(max_length=100, help_text="Shown to the person who approves: 'Front desk TV'.")
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    organization = serializers.SlugField(
        max_length=60,
        required=False,
        allow_blank=True,
        help_text="Slug of an organization: only its members may approve this sign-in.",
    )


class DeviceAuthorizationOutput(serializers.Serializer):
    device_code = serializers.CharField(help_text="Secret: poll POST /api/v1/auth/token with it.")
    user_code = serializers.CharField(help_text="Show it to the person, as given (XXXX-XXXX).")
    verification_uri = serializers.CharField()
    verification_uri_complete = serializers.CharField(help_text="The same page with the code filled in (a QR code).")
    expires_in = serializers.IntegerField(help_text="Seconds until both codes expire.")
    interval = serializers.IntegerField(help_text="Seconds to wait between polls.")


class DeviceAuthorizationTokenInput(StrictSerializer):
    """A device sign-in's poll of the token endpoint (RFC 8628 3.4)."""

    grant_type = serializers.ChoiceField(choices=[device_grant.GRANT_TYPE])
    device_code = serializers.CharField(max_length=200)
    client_id = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Accepted for RFC 8628 clients; not used."
    )


class DeviceOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    current = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = ["id", "name", "platform", "created_at", "last_seen_at", "current"]

    def get_current(self, device: Device) -> bool:
        principal = self.context["request"].auth
        return principal.kind == "native" and principal.credential_id == device.public_id


class UserOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField()
    name = serializers.CharField()


class MemberOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="user.public_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    joined_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "joined_at"]


class MemberInput(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    invited_by = serializers.EmailField(source="invited_by.email", default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "state", "invited_by", "created_at", "expires_at"]


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


# --- Native-app authentication ------------------------------------------------------------------------


class TokenView(PublicAPIView):
    """Sign a native app in with e-mail and password (and a code when the account has two-factor authentication),
    or, with ``grant_type`` ``urn:ietf:params:oauth:grant-type:device_code``, poll a device sign-in (RFC 8628)."""

    # Forms only for the device grant (RFC 8628 clients send forms); the password grant stays JSON only.
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="TokenGrant",
                serializers=[TokenInput, DeviceAuthorizationTokenInput],
                resource_type_field_name=None,
            ),
            "application/x-www-form-urlencoded": DeviceAuthorizationTokenInput,
        },
        responses={200: TokenOutput},
        summary="Sign in a native app",
        description="Answers `401 mfa_required` when the account has two-factor authentication and no valid `otp` "
        "was given, `429 too_many_attempts` after repeated failures (per account and per address).\n\n"
        "Device sign-in (RFC 8628): `grant_type=urn:ietf:params:oauth:grant-type:device_code` with the "
        "`device_code` from POST /api/v1/auth/device, as JSON or a form. Until a person approves it: "
        "`400 authorization_pending` (poll again after `interval` seconds), `400 slow_down` (polled too soon: the "
        "interval grew by 5 seconds, `details.interval`), then `400 access_denied`, `400 expired_token`, or the "
        "token pair, once; any later poll gets `400 invalid_grant`.",
    )
    @no_store
    def post(self, request):
        body = request.data
        if isinstance(body, dict) and body.get("grant_type") == device_grant.GRANT_TYPE:
            data = DeviceAuthorizationTokenInput(data=body)
            data.is_valid(raise_exception=True)
            device_code = data.validated_data["device_code"]
            pair = device_grant.device_token_poll(device_code=device_code, ip=_client_ip(request))
            return Response(pair.as_response())
        if request.content_type.startswith("application/x-www-form-urlencoded"):
            raise UnsupportedMediaType(request.content_type)  # as before forms were parsed here
        data = TokenInput(data=body)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = authenticate(request._request, email=values["email"].lower(), password=values["password"])
        if getattr(request._request, "axes_locked_out", False):
            raise ApplicationError(
                lockout_message(),
                code="too_many_attempts",
                status_code=429,
                details={"retry_after_seconds": int(settings.AXES_COOLOFF_TIME.total_seconds())},
            )
        if user is None:
            raise ApplicationError(
                _("The e-mail address or password is not correct."), code="invalid_credentials", status_code=401
            )
        # What no code can fix first (single sign-on required, account disabled): no code is asked for in vain.
        refusal = person_refusal(user, Assurance(second_factor=True))
        if refusal is not None:
            raise refusal
        second_factor = mfa.has_confirmed_device(user)
        if second_factor:
            if not values.get("otp"):
                raise ApplicationError(
                    _("This account uses two-factor authentication: send the current code as 'otp'."),
                    code="mfa_required",
                    status_code=401,
                )
            mfa.verify_code(user, values["otp"])
        # Refuses a member whose organization requires two-factor authentication they have not set up.
        pair = devices.device_sign_in(
            user=user, ip=_client_ip(request), second_factor=second_factor, **values["device"]
        )
        return Response(pair.as_response())


class DeviceAuthorizationView(PublicAPIView):
    """Start a device sign-in (RFC 8628): codes for a client that cannot take a password."""

    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=DeviceAuthorizationInput,
        responses={200: DeviceAuthorizationOutput},
        summary="Start a device sign-in",
        description="Show `user_code` and `verification_uri` (or `verification_uri_complete` as a QR code); a "
        "signed-in person approves the code there. Meanwhile poll POST /api/v1/auth/token with "
        "`grant_type=urn:ietf:params:oauth:grant-type:device_code` and `device_code`, every `interval` seconds. "
        "`400 invalid_organization` for an unknown `organization`; `429 rate_limited` past 20 requests a minute "
        "per address.",
    )
    @no_store
    def post(self, request):
        data = DeviceAuthorizationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        row, device_code, user_code = device_grant.device_authorization_request(
            client_name=values["client_name"],
            platform=values["platform"],
            organization_slug=values.get("organization") or "",
            ip=_client_ip(request),
        )
        verification_uri = absolute_url("device_verification")
        shown = device_grant.format_user_code(user_code)
        return Response(
            DeviceAuthorizationOutput(
                {
                    "device_code": device_code,
                    "user_code": shown,
                    "verification_uri": verification_uri,
                    "verification_uri_complete": f"{verification_uri}?user_code={shown}",
                    "expires_in": int((row.expires_at - row.created_at).total_seconds()),
                    "interval": row.interval,
                }
            ).data
        )


class RefreshView(PublicAPIView):
    @extend_schema(
        request=RefreshInput,
        responses={200: TokenOutput},
        summary="Rotate a refresh token",
        description="The refresh token works once. Presenting one that was already rotated signs the device out "
        "(`401 refresh_token_reused`): only a stolen copy can be presented twice.",
    )
    @no_store
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        pair = devices.token_refresh(refresh_token=data.validated_data["refresh_token"], ip=_client_ip(request))
        return Response(pair.as_response())


class RevokeView(PublicAPIView):
    @extend_schema(
        request=RevokeInput,
        responses={204: None},
        summary="Revoke a token",
        description="Revoking a refresh token signs its device out; an access token ends alone. "
        "Unknown tokens are accepted silently (RFC 7009).",
    )
    def post(self, request):
        data = RevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        devices.token_revoke(token=data.validated_data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    authentication_classes = PERSON_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "user": UserOutput(),
                "organizations": inline_serializer(
                    "MyOrganization",
                    {
                        "id": serializers.CharField(),
                        "slug": serializers.CharField(),
                        "name": serializers.CharField(),
                        "role": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
        summary="The signed-in person and their organizations",
    )
    def get(self, request):
        user = request.auth.user
        organizations = [
            {"id": m.organization.public_id, "slug": m.organization.slug, "name": m.organization.name, "role": m.role}
            for m in selectors.memberships_for_user(user)
        ]
        return Response({"user": UserOutput(user).data, "organizations": organizations})


class MeExportView(APIView):
    """GDPR articles 15 and 20 for the calling person (orgs.privacy.user_export); person credentials only."""

    authentication_classes = PERSON_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="Download my data",
        description="Profile, memberships, sessions run, devices and API keys created; never a token or secret.",
    )
    @no_store
    def get(self, request):
        response = Response(privacy.user_export(user=request.auth.user))
        response["Content-Disposition"] = f'attachment; filename="bizgaze-connect-{request.auth.user.public_id}.json"'
        return response


class DeviceListView(APIView):
    authentication_classes = PERSON_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(responses=DeviceOutput(many=True), summary="Signed-in app installations")
    def get(self, request):
        rows = Device.objects.filter(user=request.auth.user, revoked_at__isnull=True)
        return Response(DeviceOutput(rows, many=True, context={"request": request}).data)


class DeviceDetailView(APIView):
    authentication_classes = PERSON_AUTHENTICATION
    permission_classes = [IsPerson]

    def _device(self, request, device_id: str) -> Device:
        device = Device.objects.filter(user=request.auth.user, public_id=device_id, revoked_at__isnull=True).first()
        if device is None:
            raise NotFound(_("Not found."))
        return device

    @extend_schema(responses=DeviceOutput, summary="One app installation")
    def get(self, request, device_id: str):
        return Response(DeviceOutput(self._device(request, device_id), context={"request": request}).data)

    @extend_schema(responses={204: None}, summary="Sign an app installation out")
    def delete(self, request, device_id: str):
        devices.device_revoke(device=self._device(request, device_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The organization -----------------------------------------------------------------------------------


class OrganizationOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = Organization
        fields = ["id", "slug", "name", "require_mfa", "agents_see_all_sessions"]


class OrganizationSettingsInput(StrictSerializer):
    agents_see_all_sessions = serializers.BooleanField(
        required=False,
        help_text="Off (the default): an agent sees only their own sessions. On: agents may also view other agents' "
        "sessions (detail, events, lists), never end or connect to them.",
    )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class OrganizationView(OrgAPIView):
    """The organization the credential acts in: read it, and let its owners and admins change its settings."""

    model = Organization
    required_scopes = {"GET": "org:read", "PATCH": "org:write", "DELETE": "org:write"}
    serializer_class = OrganizationOutput

    @extend_schema(summary="The organization")
    def get(self, request):
        return Response(OrganizationOutput(self.org.organization).data)

    @extend_schema(request=OrganizationSettingsInput, summary="Change the organization's settings")
    def patch(self, request):
        data = OrganizationSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_update_settings(
            organization=self.org.organization, actor=self.acting_person(), **data.validated_data
        )
        return Response(OrganizationOutput(organization).data)

    @extend_schema(
        responses={204: None},
        summary="Delete the organization",
        description="Owners only, with a person's credential. The organization is closed at once and purged after "
        "`CONNECT_ORGANIZATION_PURGE_DAYS`; until then support can restore it.",
    )
    def delete(self, request):
        person = self.acting_person()
        if request.auth.kind == "oauth":  # a third-party app acting for the owner does not get to close the tenant
            raise Forbidden(
                _("Deleting the organization needs its owner signed in here, not an app acting for them."),
                code="direct_sign_in_required",
            )
        privacy.organization_delete(organization=self.org.organization, actor=person)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Members and invitations --------------------------------------------------------------------------


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MemberListView(OrgAPIView):
    model = Membership
    required_scopes = {"GET": "members:read"}
    serializer_class = MemberOutput

    def scope_queryset(self, queryset):
        return queryset.select_related("user").order_by("user__email")

    @extend_schema(
        summary="Members of the organization", operation_id="members_list", responses=MemberOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MemberOutput(page, many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MemberDetailView(OrgAPIView):
    model = Membership
    required_scopes = {"GET": "members:read", "PATCH": "members:write", "DELETE": "members:write"}
    lookup_field = "user__public_id"
    lookup_url_kwarg = "member_id"
    serializer_class = MemberOutput

    def scope_queryset(self, queryset):
        return queryset.select_related("user")

    @extend_schema(summary="One member")
    def get(self, request, member_id: str):
        return Response(MemberOutput(self.get_object()).data)

    @extend_schema(request=MemberInput, summary="Change a member's role")
    def patch(self, request, member_id: str):
        data = MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=self.get_object(), actor=self.acting_person(), role=data.validated_data["role"]
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None}, summary="Remove a member")
    def delete(self, request, member_id: str):
        services.membership_remove(membership=self.get_object(), actor=self.acting_person())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class InvitationListView(OrgAPIView):
    model = Invitation
    required_scopes = {"GET": "members:read", "POST": "members:write"}
    serializer_class = InvitationOutput

    def scope_queryset(self, queryset):
        return queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True).select_related("invited_by")

    @extend_schema(
        summary="Pending invitations", operation_id="invitations_list", responses=InvitationOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset().order_by("-created_at"))
        return self.get_paginated_response(InvitationOutput(page, many=True).data)

    @extend_schema(request=InvitationInput, responses={201: InvitationOutput}, summary="Invite someone by e-mail")
    def post(self, request):
        data = InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            organization=self.org.organization, inviter=self.acting_person(), **data.validated_data
        )
        return Response(InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class InvitationDetailView(OrgAPIView):
    model = Invitation
    required_scopes = {"DELETE": "members:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "invitation_id"

    @extend_schema(responses={204: None}, summary="Withdraw an invitation")
    def delete(self, request, invitation_id: str):
        services.invitation_revoke(invitation=self.get_object(), actor=self.acting_person())
        return Response(status=status.HTTP_204_NO_CONTENT)
