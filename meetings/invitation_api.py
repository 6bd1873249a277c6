"""API v1 for meeting invitations: e-mail guests an invitation with its ``.ics`` (the host), and a member's own
``.ics`` for their calendar. Rules live in ``meetings.invitations`` and ``meetings.services``."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER, StrictSerializer

from . import invitations
from .api import _acting, _OneMeetingView
from .ics import invitation_ics


class CalendarRenderer(BaseRenderer):
    """Lets a calendar client's ``Accept: text/calendar`` through content negotiation (JSON alone would answer 406).
    The view answers the ``.ics`` itself; errors stay JSON (see :meth:`MeetingInvitationICSView.finalize_response`)."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class MeetingInvitationsInput(StrictSerializer):
    emails = serializers.ListField(
        child=serializers.CharField(max_length=254),
        help_text=f"At most {invitations.MAX_INVITEES} addresses (duplicates, in any case, count once).",
    )
    invite = serializers.CharField(
        max_length=200, help_text="The meeting's guest secret (`mti_...`), as its creation answered it."
    )


class MeetingInvitationsOutput(serializers.Serializer):
    sent = serializers.IntegerField(help_text="How many people are invited (one e-mail each).")
    emails = serializers.ListField(child=serializers.EmailField(), help_text="The addresses invited, lower-cased.")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingInvitationsView(_OneMeetingView):
    required_scopes = {"POST": "meetings:write"}
    serializer_class = MeetingInvitationsOutput

    @extend_schema(
        request=MeetingInvitationsInput,
        responses={202: MeetingInvitationsOutput},
        summary="E-mail guests an invitation to the meeting, with its .ics (host)",
        description="Each address gets one e-mail with the guest link and `invite.ics` (`METHOD:REQUEST`), sent once "
        "the request commits. `400 wrong_invite` when `invite` is not this meeting's secret, `400 invalid_email`, "
        f"`400 too_many_invitees` (over {invitations.MAX_INVITEES}), `403 not_meeting_host`, `409 meeting_ended`. "
        "Audited as `meeting.invited`, with the addresses.",
    )
    def post(self, request, meeting_id: str):
        data = MeetingInvitationsInput(data=request.data)
        data.is_valid(raise_exception=True)
        addresses = invitations.send_invitations(
            org=self.org, meeting=self.meeting(), actor=_acting(request, self.org), **data.validated_data
        )
        return Response({"sent": len(addresses), "emails": addresses}, status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class MeetingInvitationICSView(_OneMeetingView):
    required_scopes = {"GET": "meetings:read"}
    renderer_classes = [JSONRenderer, CalendarRenderer]

    @extend_schema(
        summary="The meeting as an .ics, for a member's own calendar",
        operation_id="meetings_invitation_ics",
        description="`METHOD:PUBLISH`, the same event (UID) as the invitations, linking to the meeting's page for "
        "members. Any member of the organization.",
        responses={(200, "text/calendar"): OpenApiResponse(OpenApiTypes.BINARY, description="An iCalendar file.")},
    )
    def get(self, request, meeting_id: str):
        meeting = self.meeting()
        body = invitation_ics(meeting, join_url=invitations.member_meeting_url(meeting), method="PUBLISH")
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{meeting.public_id}.ics"'
        response["Cache-Control"] = "no-store"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # only errors: in the one JSON shape, whatever Accept asked for
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
