"""Pages: the organization's meetings (start one now or schedule one), a meeting with its guest link, the meeting
room, and the guests' page reached by the invite link. Rules live in ``meetings.services``; the room's live part is
its socket (``meetings.consumers``)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError
from orgs.views import OrgScopedMixin
from recordings.models import Recording
from sessions.services import Actor

from . import services
from .ics import invitation_ics
from .invitations import guest_join_url, member_meeting_url, send_invitations
from .models import Meeting, MeetingParticipant

INVITES_KEY = "meeting_invites"  # meeting id -> its guest link's secret, in the host's browser session


class MeetingForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    scheduled_start = forms.DateTimeField(required=False, input_formats=["%Y-%m-%dT%H:%M"])
    duration_minutes = forms.IntegerField(required=False, min_value=5, max_value=24 * 60)
    guests_may_share_screen = forms.BooleanField(required=False)


def _remember_invite(request: HttpRequest, meeting: Meeting, invite: str) -> None:
    invites = dict(request.session.get(INVITES_KEY, {}))
    invites[meeting.public_id] = invite
    request.session[INVITES_KEY] = dict(list(invites.items())[-50:])


def _invite_held(request: HttpRequest, meeting: Meeting) -> str | None:
    """The guest link's secret, if this browser created the meeting or made its current link."""
    return request.session.get(INVITES_KEY, {}).get(meeting.public_id)


def _refusal(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, exc.message)


class MeetingListPageView(OrgScopedMixin, View):
    required_scope = "meetings:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        meetings = Meeting.objects.for_org(self.org.organization).select_related("host")
        now = timezone.now()
        live = list(meetings.filter(status=Meeting.Status.LIVE)[:50])
        upcoming = list(
            meetings.filter(status=Meeting.Status.SCHEDULED)
            .filter(Q(scheduled_end__isnull=True) | Q(scheduled_end__gte=now - timedelta(hours=12)))
            .order_by("scheduled_start", "created_at")[:50]
        )
        past = list(meetings.filter(status=Meeting.Status.ENDED)[:50])
        return self.render(
            "meetings/list.html",
            {
                "live": live,
                "upcoming": upcoming,
                "past": past,
                "can_write": self.has_scope("meetings:write"),
                "form": MeetingForm(),
                "uses_sfu": services.uses_sfu(),
                "mesh_max": services.MESH_MAX_PARTICIPANTS,
                "here": "meeting_list",
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("meetings:write"):
            messages.error(request, _("Your role may not start meetings."))
            return redirect("meeting_list", org_slug=self.org.organization.slug)
        form = MeetingForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
            return redirect("meeting_list", org_slug=self.org.organization.slug)
        data = form.cleaned_data
        start = data["scheduled_start"]
        if start is None and "start" not in request.POST:  # "Schedule" with no time would make an instant meeting
            messages.error(request, _("Pick when the meeting starts, or press Start now."))
            return redirect("meeting_list", org_slug=self.org.organization.slug)
        if start is not None and timezone.is_naive(start):
            start = timezone.make_aware(start, timezone.get_current_timezone())
        end = start + timedelta(minutes=data["duration_minutes"] or 60) if start else None
        title = data["title"].strip() or (
            _("Meeting with %(name)s") % {"name": request.user.get_full_name() or request.user.email}
        )
        try:
            meeting, invite = services.meeting_create(
                org=self.org,
                actor=Actor.from_request(request, "agent", request.user),
                title=title,
                scheduled_start=start,
                scheduled_end=end,
                guests_may_share_screen=data["guests_may_share_screen"],
            )
        except ApplicationError as exc:
            _refusal(request, exc)
            return redirect("meeting_list", org_slug=self.org.organization.slug)
        _remember_invite(request, meeting, invite)
        if start is None:  # "Start now": straight into the room
            return _join(self, request, meeting)
        return redirect("meeting_detail", org_slug=self.org.organization.slug, meeting_id=meeting.public_id)


def _join(view: OrgScopedMixin, request: HttpRequest, meeting: Meeting) -> HttpResponse:
    slug = view.org.organization.slug
    try:
        services.meeting_join(org=view.org, meeting=meeting, actor=Actor.from_request(request, "agent", request.user))
    except ApplicationError as exc:
        _refusal(request, exc)
        return redirect("meeting_detail", org_slug=slug, meeting_id=meeting.public_id)
    return redirect("meeting_room", org_slug=slug, meeting_id=meeting.public_id)


class _OneMeetingPage(OrgScopedMixin, View):
    required_scope = "meetings:read"

    def meeting(self) -> Meeting:
        from django.http import Http404

        from connect.errors import NotFound

        try:
            return services.meeting_for(self.org, self.kwargs["meeting_id"])
        except NotFound:
            raise Http404 from None


class MeetingDetailPageView(_OneMeetingPage):
    def get(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        meeting = self.meeting()
        invite = _invite_held(request, meeting)
        is_host = services.is_host(self.org, meeting)
        return self.render(
            "meetings/detail.html",
            {
                "meeting": meeting,
                "participants": list(meeting.participants.all()),
                "chat": services.chat_history(meeting, limit=500) if meeting.status == Meeting.Status.ENDED else [],
                "recordings": list(
                    Recording.objects.for_org(meeting.organization).filter(meeting=meeting).order_by("created_at")
                ),
                "invite_url": guest_join_url(invite) if invite and is_host else "",
                "is_host": is_host,
                "can_write": self.has_scope("meetings:write"),
                "uses_sfu": services.uses_sfu(),
                "mesh_max": services.MESH_MAX_PARTICIPANTS,
                "here": "meeting_list",
            },
        )


class MeetingCalendarPageView(_OneMeetingPage):
    """The meeting for the member's own calendar (the API's ``invitation.ics``, for a plain link)."""

    def get(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        meeting = self.meeting()
        body = invitation_ics(meeting, join_url=member_meeting_url(meeting), method="PUBLISH")
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{meeting.public_id}.ics"'
        return response


class MeetingJoinPageView(_OneMeetingPage):
    required_scope = "meetings:write"

    def post(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        return _join(self, request, self.meeting())


class MeetingInviteRotatePageView(_OneMeetingPage):
    required_scope = "meetings:write"

    def post(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        meeting = self.meeting()
        try:
            invite = services.invite_rotate(
                org=self.org, meeting=meeting, actor=Actor.from_request(request, "agent", request.user)
            )
        except ApplicationError as exc:
            _refusal(request, exc)
        else:
            _remember_invite(request, meeting, invite)
            messages.success(request, _("A new guest link is ready; the old one no longer works."))
        return redirect("meeting_detail", org_slug=self.org.organization.slug, meeting_id=meeting.public_id)


class MeetingInviteEmailPageView(_OneMeetingPage):
    """The host e-mails the guest link with an ``.ics`` invitation (meetings.invitations)."""

    required_scope = "meetings:write"

    def post(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        meeting = self.meeting()
        back = redirect("meeting_detail", org_slug=self.org.organization.slug, meeting_id=meeting.public_id)
        invite = _invite_held(request, meeting)
        if not invite:
            messages.error(request, _("Make a new guest link first: this browser does not hold the current one."))
            return back
        emails = [
            part.strip() for part in request.POST.get("emails", "").replace(";", ",").replace("\n", ",").split(",")
        ]
        try:
            sent = send_invitations(
                org=self.org,
                meeting=meeting,
                invite=invite,
                emails=[email for email in emails if email],
                actor=Actor.from_request(request, "agent", request.user),
            )
        except ApplicationError as exc:
            _refusal(request, exc)
        else:
            messages.success(request, _("Invitation sent to %(who)s.") % {"who": ", ".join(sent)})
        return back


class MeetingRoomPageView(_OneMeetingPage):
    """The room. Only for someone who joined (the Join button): others are sent to the meeting's page."""

    def get(self, request: HttpRequest, meeting_id: str) -> HttpResponse:
        meeting = self.meeting()
        participant = MeetingParticipant.objects.filter(meeting=meeting, identity=request.user.public_id).first()
        joinable = participant is not None and participant.state in (
            MeetingParticipant.State.ADMITTED,
            MeetingParticipant.State.LEFT,
        )
        if meeting.status == Meeting.Status.ENDED or not joinable:
            if participant is not None and participant.state == MeetingParticipant.State.REMOVED:
                messages.error(request, _("The host removed you from this meeting."))
            return redirect("meeting_detail", org_slug=self.org.organization.slug, meeting_id=meeting.public_id)
        invite = _invite_held(request, meeting)
        return self.render(
            "meetings/room.html",
            {
                "meeting": meeting,
                "participant": participant,
                "socket_url": f"/ws/v1/meetings/{meeting.public_id}",
                "livekit_url": settings.LIVEKIT_URL if services.uses_sfu() else "",
                "token_url": f"/api/v1/meetings/{meeting.public_id}/join",
                "leave_url": f"/o/{self.org.organization.slug}/meetings/{meeting.public_id}/",
                "invite_url": guest_join_url(invite) if invite and services.is_host(self.org, meeting) else "",
                "here": "meeting_list",
            },
        )


def guest_page(request: HttpRequest) -> HttpResponse:
    """The invite link's page: the guest types a name and waits in the lobby, then the room opens on the same page.
    Everything after the name goes through ``POST /api/v1/meetings/join`` and the meeting's socket."""
    return render(
        request,
        "meetings/guest.html",
        {
            "join_api": "/api/v1/meetings/join",
            "invite_api": "/api/v1/meetings/invite",
            "livekit_url": settings.LIVEKIT_URL if services.uses_sfu() else "",
        },
    )
