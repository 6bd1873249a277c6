"""API v1 for unattended machines: enrollment (by the desktop agent), the machine list, groups and their policies,
enrollment tokens, and connecting to a machine."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, PublicAPIView, StrictSerializer
from connect.errors import NotFound
from connect.nocache import no_store
from orgs.models import Membership
from sessions.api import SessionOutput
from sessions.services import Actor

from . import presence, services
from .models import EnrollmentToken, Machine, MachineConnection, MachineGroup

OS_CHOICES = ["linux", "windows", "macos"]


class MachineEnrollInput(StrictSerializer):
    token = serializers.CharField(max_length=200)
    hostname = serializers.CharField(max_length=255)
    os = serializers.ChoiceField(choices=OS_CHOICES)
    os_version = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    agent_version = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    public_key = serializers.CharField(max_length=64, help_text="The machine's Ed25519 public key, base64url.")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class MachineEnrolledOutput(serializers.Serializer):
    machine_id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    organization = serializers.CharField(source="organization.name")
    group = serializers.CharField(source="group.name")
    socket_path = serializers.SerializerMethodField()

    def get_socket_path(self, machine) -> str:
        return "/ws/v1/machine"


class EnrollView(PublicAPIView):
    """The desktop agent enrolls its machine with a token (``connect-agent enroll``)."""

    @extend_schema(
        request=MachineEnrollInput,
        responses={201: MachineEnrolledOutput},
        summary="Enroll a machine",
        description="No credential but the enrollment token. `401 invalid_enrollment_token`, "
        "`enrollment_token_expired`, `enrollment_token_revoked`, `enrollment_token_used`; `402 plan_limit` past "
        "the plan's unattended machines; `429 rate_limited` after repeated wrong tokens from one address.",
    )
    @no_store
    def post(self, request):
        data = MachineEnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        machine = services.machine_enroll(ip=request.META.get("REMOTE_ADDR"), **data.validated_data)
        return Response(MachineEnrolledOutput(machine).data, status=status.HTTP_201_CREATED)


class MachineOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    group = serializers.SerializerMethodField()
    online = serializers.SerializerMethodField()

    class Meta:
        model = Machine
        fields = [
            "id",
            "name",
            "hostname",
            "os",
            "os_version",
            "agent_version",
            "group",
            "tags",
            "online",
            "enrolled_at",
            "last_seen_at",
            "removed_at",
        ]

    def get_group(self, machine) -> dict:
        return {"id": machine.group.public_id, "name": machine.group.name}

    def get_online(self, machine) -> bool:
        online = self.context.get("online")
        if online is None:
            return presence.machine_online_sync(machine.public_id)
        return machine.public_id in online


class MachineInput(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    group_id = serializers.CharField(max_length=64, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)


def _group(org, public_id: str | None) -> MachineGroup | None:
    if public_id is None:
        return None
    group = MachineGroup.objects.for_org(org.organization).filter(public_id=public_id).first()
    if group is None:
        raise NotFound(_("No such group."), details={"field": "group_id"})
    return group


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MachineListView(OrgAPIView):
    model = Machine
    required_scopes = {"GET": "machines:read"}
    serializer_class = MachineOutput

    def scope_queryset(self, queryset):
        return queryset.filter(removed_at__isnull=True).select_related("group")

    @extend_schema(
        summary="Machines of the organization", operation_id="machines_list", responses=MachineOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        online = presence.online_machines_sync([m.public_id for m in page])
        return self.get_paginated_response(MachineOutput(page, many=True, context={"online": online}).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MachineDetailView(OrgAPIView):
    model = Machine
    required_scopes = {"GET": "machines:read", "PATCH": "machines:write", "DELETE": "machines:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "machine_id"
    serializer_class = MachineOutput

    def scope_queryset(self, queryset):
        return queryset.select_related("group")

    @extend_schema(summary="One machine")
    def get(self, request, machine_id: str):
        return Response(MachineOutput(self.get_object()).data)

    @extend_schema(request=MachineInput, summary="Rename a machine, move it to a group, tag it")
    def patch(self, request, machine_id: str):
        data = MachineInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        group = _group(self.org, values.pop("group_id", None))
        machine = services.machine_update(org=self.org, machine=self.get_object(), group=group, **values)
        return Response(MachineOutput(machine).data)

    @extend_schema(responses={204: None}, summary="Remove a machine (its agent is refused from now on)")
    def delete(self, request, machine_id: str):
        services.machine_remove(org=self.org, machine=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MachineConnectView(OrgAPIView):
    model = Machine
    required_scopes = {"POST": "sessions:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "machine_id"
    serializer_class = SessionOutput

    def scope_queryset(self, queryset):
        return queryset.select_related("group")

    @extend_schema(
        request=None,
        responses={201: SessionOutput},
        summary="Connect to a machine unattended",
        description="Opens a support session the machine joins as its customer. `403 machine_policy_forbids` or "
        "`machine_outside_hours` (the group's policy), `409 machine_offline` or `machine_removed`, `402 plan_limit`. "
        "Every refusal is recorded in the machine's connections and the audit log.",
    )
    def post(self, request, machine_id: str):
        self.acting_person()
        session = services.machine_connect(
            org=self.org, machine=self.get_object(), actor=Actor.from_request(request, "agent", self.org.user)
        )
        return Response(SessionOutput(session).data, status=status.HTTP_201_CREATED)


class MachineConnectionOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    user = serializers.CharField(source="user_label")
    session_id = serializers.CharField(source="session_public_id")

    class Meta:
        model = MachineConnection
        fields = ["id", "user", "outcome", "reason", "session_id", "ip", "created_at"]


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MachineConnectionsView(OrgAPIView):
    model = MachineConnection
    required_scopes = {"GET": "machines:read"}
    serializer_class = MachineConnectionOutput

    def scope_queryset(self, queryset):
        return queryset.filter(machine__public_id=self.kwargs["machine_id"])

    @extend_schema(
        summary="Who connected to a machine, and what came of it", responses=MachineConnectionOutput(many=True)
    )
    def get(self, request, machine_id: str):
        if not Machine.objects.for_org(self.org.organization).filter(public_id=machine_id).exists():
            raise NotFound(_("Not found."))
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MachineConnectionOutput(page, many=True).data)


class MachineGroupOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    allowed_users = serializers.SerializerMethodField()

    class Meta:
        model = MachineGroup
        fields = [
            "id",
            "name",
            "access",
            "allowed_users",
            "require_consent",
            "hours_start",
            "hours_end",
            "weekdays",
            "timezone",
        ]

    def get_allowed_users(self, group) -> list[str]:
        return [user.public_id for user in group.allowed_users.all()]


class MachineGroupInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    access = serializers.ChoiceField(choices=MachineGroup.Access.choices, required=False)
    allowed_users = serializers.ListField(child=serializers.CharField(max_length=64), max_length=500, required=False)
    require_consent = serializers.BooleanField(required=False)
    hours_start = serializers.TimeField(required=False, allow_null=True)
    hours_end = serializers.TimeField(required=False, allow_null=True)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), max_length=7, required=False
    )
    timezone = serializers.CharField(max_length=64, required=False)


class MachineGroupPatchInput(MachineGroupInput):
    name = serializers.CharField(max_length=100, required=False)


def _save_group(view, data, group=None):
    values = dict(data.validated_data)
    users = values.pop("allowed_users", None)
    allowed = None
    if users is not None:
        memberships = Membership.objects.for_org(view.org.organization).select_related("user")
        found = {m.user.public_id: m.user for m in memberships.filter(user__public_id__in=users)}
        if len(found) != len(set(users)):
            raise NotFound(_("No such member in this organization."), details={"field": "allowed_users"})
        allowed = list(found.values())
    name = values.pop("name", group.name if group else "")
    return services.group_save(org=view.org, group=group, name=name, allowed_users=allowed, **values)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class GroupListView(OrgAPIView):
    model = MachineGroup
    required_scopes = {"GET": "machines:read", "POST": "machines:write"}
    serializer_class = MachineGroupOutput

    def scope_queryset(self, queryset):
        return queryset.prefetch_related("allowed_users")

    @extend_schema(
        summary="Machine groups and their policies",
        operation_id="machine_groups_list",
        responses=MachineGroupOutput(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MachineGroupOutput(page, many=True).data)

    @extend_schema(request=MachineGroupInput, responses={201: MachineGroupOutput}, summary="Create a machine group")
    def post(self, request):
        data = MachineGroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(MachineGroupOutput(_save_group(self, data)).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class GroupDetailView(OrgAPIView):
    model = MachineGroup
    required_scopes = {"GET": "machines:read", "PATCH": "machines:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "group_id"
    serializer_class = MachineGroupOutput

    @extend_schema(summary="One machine group")
    def get(self, request, group_id: str):
        return Response(MachineGroupOutput(self.get_object()).data)

    @extend_schema(request=MachineGroupPatchInput, summary="Change a group's name or policy")
    def patch(self, request, group_id: str):
        data = MachineGroupPatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(MachineGroupOutput(_save_group(self, data, self.get_object())).data)


class EnrollmentTokenOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    group = serializers.CharField(source="group.public_id")
    state = serializers.SerializerMethodField()

    class Meta:
        model = EnrollmentToken
        fields = ["id", "name", "prefix", "group", "tags", "max_uses", "uses", "state", "created_at", "expires_at"]

    def get_state(self, token) -> str:
        return token.state(timezone.now())


class EnrollmentTokenCreatedOutput(EnrollmentTokenOutput):
    token = serializers.CharField(help_text="The token itself. Shown only in this response.")

    class Meta(EnrollmentTokenOutput.Meta):
        fields = [*EnrollmentTokenOutput.Meta.fields, "token"]


class EnrollmentTokenInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    group_id = serializers.CharField(max_length=64, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)
    max_uses = serializers.IntegerField(min_value=1, max_value=10_000, required=False, allow_null=True, default=1)
    expires_in_hours = serializers.IntegerField(min_value=1, max_value=24 * 365, required=False)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class TokenListView(OrgAPIView):
    model = EnrollmentToken
    required_scopes = {"GET": "machines:read", "POST": "machines:write"}
    serializer_class = EnrollmentTokenOutput

    def scope_queryset(self, queryset):
        return queryset.filter(revoked_at__isnull=True).select_related("group")

    @extend_schema(
        summary="Machine enrollment tokens",
        operation_id="machine_enrollment_tokens_list",
        responses=EnrollmentTokenOutput(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(EnrollmentTokenOutput(page, many=True).data)

    @extend_schema(
        request=EnrollmentTokenInput,
        responses={201: EnrollmentTokenCreatedOutput},
        summary="Create an enrollment token",
    )
    @no_store
    def post(self, request):
        data = EnrollmentTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        hours = values.pop("expires_in_hours", None)
        token, secret = services.enrollment_token_create(
            org=self.org,
            group=_group(self.org, values.pop("group_id", None)),
            expires_in=timedelta(hours=hours) if hours else None,
            **values,
        )
        token.token = secret
        return Response(EnrollmentTokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class TokenDetailView(OrgAPIView):
    model = EnrollmentToken
    required_scopes = {"DELETE": "machines:write"}
    lookup_field = "public_id"
    lookup_url_kwarg = "token_id"
    serializer_class = EnrollmentTokenOutput

    @extend_schema(responses={204: None}, summary="Revoke an enrollment token")
    def delete(self, request, token_id: str):
        services.enrollment_token_revoke(org=self.org, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
