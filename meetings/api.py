"""API v1 for meetings: list and create, one meeting with its participants, join (members; guests by the invite link),
the host's controls, and LiveKit's webhooks. Rules live in ``meetings.services``."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from connect.api.pagination import NewestFirstCursorPagination
from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, PublicAPIView, StrictSerializer
from connect.nocache import no_store
from sessions.services import Actor

from . import services
from .models import Meeting, MeetingParticipant


def _acting(request, org) -> Actor:
    if org.user is not None:
        return Actor.from_request(request, "agent", org.user)
    principal = org.principal
    kind = {"api_key": "api_key", "oauth": "oauth_app"}.get(getattr(principal, "kind", ""), "api")
    credential = getattr(principal, "credential_id", "")
    return replace(Actor.from_request(request, kind), credential_id=credential, label=credential or kind)


class MeetingParticipantOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField(source="display_name")

    class Meta:
        model = MeetingParticipant
        fields = ["id", "name", "identity", "role", "state", "joined_at", "left_at", "minutes_counted"]


class MeetingOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    host = serializers.SerializerMethodField()

    class Meta:
        model = Meeting
        fields = [
            "id",
            "title",
            "host",
            "status",
            "locked",
            "guests_may_share_screen",
            "scheduled_start",
            "scheduled_end",
            "created_at",
            "started_at",
            "ended_at",
        ]

    def get_host(self, meeting) -> dict:
        return {"id": meeting.host.public_id if meeting.host_id else None, "name": meeting.host_label}


class MeetingDetailOutput(MeetingOutput):
    participants = MeetingParticipantOutput(many=True, read_only=True)

    class Meta(MeetingOutput.Meta):
        fields = [*MeetingOutput.Meta.fields, "participants"]


class MeetingCreatedOutput(MeetingOutput):
    invite = serializers.SerializerMethodField(help_text="The guests' secret: shown once, only its hash is kept.")

    class Meta(MeetingOutput.Meta):
        fields = [*MeetingOutput.Meta.fields, "invite"]

    def get_invite(self, meeting) -> str:
        return self.context["invite"]


class MeetingInput(StrictSerializer):
    title = serializers.CharField(max_length=200)
    scheduled_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    scheduled_end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    guests_may_share_screen = serializers.BooleanField(required=False, default=False)


class MeetingLiveKitOutput(serializers.Serializer):
    url = serializers.CharField()
    token = serializers.CharField()


class MeetingSocketOutput(serializers.Serializer):
    url = serializers.CharField(
        help_text="The meeting's socket (docs/signaling.md, Meetings): chat, hands, the lobby, "
        "the host's controls and, in a mesh meeting, the WebRTC negotiation."
    )


class MeetingJoinOutput(serializers.Serializer):
    participant = MeetingParticipantOutput()
    state = serializers.CharField(help_text="`admitted` (connect) or `lobby` (wait for the host).")
    mode = serializers.ChoiceField(
        choices=["livekit", "mesh"],
        help_text="`livekit`: media through the SFU (`livekit` has the URL and token). `mesh`: without an SFU, each "
        "participant connects to each other one over `socket` (at most 4).",
    )
    livekit = MeetingLiveKitOutput(allow_null=True)
    socket = MeetingSocketOutput(allow_null=True, help_text="Once admitted.")


class MeetingGuestJoinOutput(MeetingJoinOutput):
    guest_token = serializers.CharField(help_text="Post it back (with the invite) to learn whether you were admitted.")


def _joined(participant: MeetingParticipant, **extra) -> dict:
    token = services.token_for(participant)
    admitted = participant.state == MeetingParticipant.State.ADMITTED
    return {
        "participant": MeetingParticipantOutput(participant).data,
        "state": participant.state,
        "mode": "livekit" if services.uses_sfu() else "mesh",
        "livekit": {"url": settings.LIVEKIT_URL, "token": token} if token else None,
        "socket": {"url": f"/ws/v1/meetings/{participant.meeting.public_id}"} if admitted else None,
        **extra,
    }


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingListView(OrgAPIView):
    model = Meeting
    required_scopes = {"GET": "meetings:read", "POST": "meetings:write"}
    serializer_class = MeetingOutput
    pagination_class = NewestFirstCursorPagination

    def scope_queryset(self, queryset):
        return queryset.select_related("host")

    @extend_schema(
        summary="Meetings of the organization", operation_id="meetings_list", responses=MeetingOutput(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MeetingOutput(page, many=True).data)

    @extend_schema(
        request=MeetingInput,
        responses={201: MeetingCreatedOutput},
        summary="Create a meeting (instant without a start)",
        description="`402 plan_limit` when the plan has no meetings or (instant) as many are live as it allows.",
    )
    @no_store  # the invite secret
    def post(self, request):
        data = MeetingInput(data=request.data)
        data.is_valid(raise_exception=True)
        meeting, invite = services.meeting_create(org=self.org, actor=_acting(request, self.org), **data.validated_data)
        return Response(MeetingCreatedOutput(meeting, context={"invite": invite}).data, status=status.HTTP_201_CREATED)


class _OneMeetingView(OrgAPIView):
    model = Meeting
    lookup_field = "public_id"
    lookup_url_kwarg = "meeting_id"
    serializer_class = MeetingOutput

    def meeting(self) -> Meeting:
        return services.meeting_for(self.org, self.kwargs["meeting_id"])

    def participant(self) -> MeetingParticipant:
        return services.participant_for(self.meeting(), self.kwargs["participant_id"])


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingDetailView(_OneMeetingView):
    required_scopes = {"GET": "meetings:read"}
    serializer_class = MeetingDetailOutput

    @extend_schema(summary="One meeting, with its participants")
    def get(self, request, meeting_id: str):
        meeting = self.meeting()
        meeting = Meeting.objects.for_org(self.org.organization).prefetch_related("participants").get(pk=meeting.pk)
        return Response(MeetingDetailOutput(meeting).data)


class MeetingJoinInput(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingJoinView(_OneMeetingView):
    required_scopes = {"POST": "meetings:write"}
    serializer_class = MeetingJoinOutput

    @extend_schema(
        request=MeetingJoinInput,
        responses=MeetingJoinOutput,
        summary="Join a meeting (members of the organization)",
        description="Members are admitted at once: with LiveKit they get its URL and a token, without it (`mode: "
        "mesh`) the meeting's socket. `403 meeting_locked`, `403 removed_from_meeting`, `409 meeting_ended`, "
        "`409 meeting_full` (a mesh meeting holds 4), `402 plan_limit` past the plan's participants or concurrent "
        "meetings.",
    )
    @no_store
    def post(self, request, meeting_id: str):
        data = MeetingJoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.meeting_join(
            org=self.org, meeting=self.meeting(), actor=_acting(request, self.org), name=data.validated_data["name"]
        )
        return Response(_joined(participant))


class MeetingGuestJoinInput(StrictSerializer):
    invite = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    guest_token = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MeetingGuestJoinView(PublicAPIView):
    """A guest's way in: the invite link, a name, no account. Waits in the lobby until the host admits them."""

    @extend_schema(
        request=MeetingGuestJoinInput,
        responses=MeetingGuestJoinOutput,
        summary="Join a meeting as a guest, with its invite link (no sign-in)",
        operation_id="meetings_guest_join",
        description="The first call (invite and name) puts the guest in the lobby and returns a `guest_token`; later "
        "calls with the invite and that token answer the current state, with the LiveKit token (or the mesh socket) "
        "once admitted. `404 invalid_invite`, `403 meeting_locked` or `removed_from_meeting`, `409 meeting_ended` or "
        "`meeting_full`; `429 rate_limited` after repeated wrong links from one address.",
    )
    @no_store
    def post(self, request):
        data = MeetingGuestJoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        actor = Actor.from_request(request, "customer")
        participant, guest_token = services.meeting_guest_join(actor=actor, **data.validated_data)
        services.guest_admitted_start(participant, actor)
        return Response(_joined(participant, guest_token=guest_token))


class MeetingInviteInput(StrictSerializer):
    invite = serializers.CharField(max_length=200)


class MeetingInviteOutput(serializers.Serializer):
    title = serializers.CharField()
    organization = serializers.CharField(source="organization.name")
    host = serializers.CharField(source="host_label")
    status = serializers.CharField()
    scheduled_start = serializers.DateTimeField(allow_null=True)
    locked = serializers.BooleanField()


class MeetingInviteView(PublicAPIView):
    """What an invite link opens, for the guest page to show before asking a name."""

    @extend_schema(
        request=MeetingInviteInput,
        responses=MeetingInviteOutput,
        summary="What a meeting's invite link opens (no sign-in)",
        operation_id="meetings_invite_preview",
        description="The meeting's title, organization and host, so a guest knows who invites them before giving "
        "a name. `404 invalid_invite`; `429 rate_limited` after repeated wrong links from one address.",
    )
    @no_store
    def post(self, request):
        data = MeetingInviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        meeting = services.meeting_for_invite(
            invite=data.validated_data["invite"], actor=Actor.from_request(request, "customer")
        )
        return Response(MeetingInviteOutput(meeting).data)


class _HostControlView(_OneMeetingView):
    required_scopes = {"POST": "meetings:write"}


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingAdmitView(_HostControlView):
    serializer_class = MeetingParticipantOutput

    @extend_schema(request=None, responses=MeetingParticipantOutput, summary="Admit a guest from the lobby (host)")
    def post(self, request, meeting_id: str, participant_id: str):
        participant = services.participant_admit(
            org=self.org, participant=self.participant(), actor=_acting(request, self.org)
        )
        return Response(MeetingParticipantOutput(participant).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingRemoveView(_HostControlView):
    serializer_class = MeetingParticipantOutput

    @extend_schema(
        request=None,
        responses=MeetingParticipantOutput,
        summary="Remove a participant (host): disconnected now, and cannot rejoin",
    )
    def post(self, request, meeting_id: str, participant_id: str):
        participant = services.participant_remove(
            org=self.org, participant=self.participant(), actor=_acting(request, self.org)
        )
        return Response(MeetingParticipantOutput(participant).data)


class MeetingMuteInput(StrictSerializer):
    track_sid = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="With LiveKit: its id of the published track (`TR_...`), required. In a mesh meeting leave it out: "
        "the participant's page turns its microphone off.",
    )
    muted = serializers.BooleanField(required=False, default=True)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingMuteView(_HostControlView):
    serializer_class = MeetingParticipantOutput

    @extend_schema(request=MeetingMuteInput, responses=MeetingParticipantOutput, summary="Mute a participant's track")
    def post(self, request, meeting_id: str, participant_id: str):
        data = MeetingMuteInput(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_mute(
            org=self.org, participant=self.participant(), actor=_acting(request, self.org), **data.validated_data
        )
        return Response(MeetingParticipantOutput(participant).data)


class MeetingLockInput(StrictSerializer):
    locked = serializers.BooleanField(required=False, default=True)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingLockView(_HostControlView):
    @extend_schema(
        request=MeetingLockInput,
        responses=MeetingOutput,
        summary="Lock (or unlock) a meeting: nobody new may join",
    )
    def post(self, request, meeting_id: str):
        data = MeetingLockInput(data=request.data)
        data.is_valid(raise_exception=True)
        meeting = services.meeting_lock(
            org=self.org, meeting=self.meeting(), actor=_acting(request, self.org), **data.validated_data
        )
        return Response(MeetingOutput(meeting).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingEndView(_HostControlView):
    @extend_schema(request=None, responses=MeetingOutput, summary="End the meeting for everyone (host)")
    def post(self, request, meeting_id: str):
        meeting = services.meeting_end(org=self.org, meeting=self.meeting(), actor=_acting(request, self.org))
        return Response(MeetingOutput(meeting).data)


class MeetingWebhookView(PublicAPIView):
    """LiveKit's webhooks: the body is verified against the signed token in ``Authorization`` before anything."""

    @extend_schema(
        request={"application/webhook+json": OpenApiTypes.OBJECT},
        responses={204: None},
        summary="LiveKit webhook (participants joining and leaving, rooms finishing)",
        description="Signed by LiveKit with the API secret (a JWT in `Authorization` carrying the body's SHA-256): "
        "`401 invalid_webhook_signature` otherwise. An event already handled (by its id) changes nothing.",
        examples=[OpenApiExample("participant_joined", value={"event": "participant_joined", "id": "EV_..."})],
    )
    def post(self, request):
        services.webhook_handle(body=request.body, auth_header=request.headers.get("Authorization", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)
