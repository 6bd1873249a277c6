"""API v1 for support sessions: start, list, read, events, end; and the customer's join by code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connect.api.pagination import NewestFirstCursorPagination
from connect.api.params import moment_param
from connect.api.views import ORG_HEADER_PARAMETER, OrgAPIView, PublicAPIView, StrictSerializer
from connect.errors import NotFound
from connect.links import absolute_url
from connect.nocache import no_store
from orgs.models import Membership
from signaling.ice import ice_servers

from . import history, selectors, services, workflow
from .models import SessionEvent, SessionNote, Status, SupportSession


class AgentOutput(serializers.Serializer):
    """Who ran the session; ``id`` is null once that person was erased, ``name`` then the recorded label."""

    id = serializers.CharField(source="agent.public_id", default=None, allow_null=True)
    name = serializers.CharField(source="agent_name")


class SessionOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    agent = AgentOutput(source="*")
    join_url = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(source="code_expires_at")
    duration_seconds = serializers.IntegerField(allow_null=True)
    code = serializers.SerializerMethodField()
    tags = serializers.ListField(
        child=serializers.CharField(), help_text="Agents' labels (never shown to the customer)."
    )
    notes_count = serializers.SerializerMethodField(help_text="Private agent notes: GET /sessions/{id}/notes.")

    class Meta:
        model = SupportSession
        fields = [
            "id",
            "code",
            "join_url",
            "expires_at",
            "status",
            "agent",
            "customer_name",
            "customer_email",
            "created_at",
            "started_at",
            "ended_at",
            "end_reason",
            "duration_seconds",
            "tags",
            "ticket_ref",
            "notes_count",
            "rating",
            "rating_comment",
            "rated_at",
        ]

    def get_notes_count(self, session: SupportSession) -> int:
        annotated = getattr(session, "notes_total", None)  # lists set it: one query whatever the page size
        return annotated if annotated is not None else workflow.session_notes(session).count()

    def get_code(self, session: SupportSession) -> str | None:
        return session.code if session.status == Status.WAITING else None

    def get_join_url(self, session: SupportSession) -> str | None:
        return absolute_url("join_code", session.code) if session.status == Status.WAITING else None


class SessionInput(StrictSerializer):
    customer_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    customer_email = serializers.EmailField(required=False, allow_blank=True)
    agent_id = serializers.CharField(
        max_length=40, required=False, help_text="The agent who runs it; defaults to the person calling."
    )


class EventOutput(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = SessionEvent
        fields = ["type", "actor_kind", "actor", "ip", "user_agent", "data", "created_at"]

    def get_actor(self, event: SessionEvent) -> str | None:
        return event.actor.email if event.actor else None


def _acting(request, org) -> services.Actor:
    """Who acts on a session through the API: the person, else the organization's credential (named by its id)."""
    if org.user is not None:
        return services.Actor.from_request(request, "agent", org.user)
    principal = org.principal
    kind = {"api_key": "api_key", "oauth": "oauth_app"}.get(getattr(principal, "kind", ""), "api")
    credential = getattr(principal, "credential_id", "")
    return replace(services.Actor.from_request(request, kind), credential_id=credential, label=credential or kind)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionListView(OrgAPIView):
    model = SupportSession
    required_scopes = {"GET": "sessions:read", "POST": "sessions:write"}
    serializer_class = SessionOutput
    pagination_class = NewestFirstCursorPagination

    def scope_queryset(self, queryset):
        # An agent lists only their own sessions unless the organization lets agents see all (sessions.selectors).
        queryset = selectors.sessions_visible(self.org, queryset).select_related("agent", "organization")
        params = self.request.query_params
        # The history's search and filters (sessions.history): q, status, outcome, agent, since, until; 400 if bad.
        queryset = history.apply_filters(queryset, history.parse_filters(params, UTC))
        for name, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
            if params.get(name):
                queryset = queryset.filter(**{lookup: moment_param(name, params[name])})
        return queryset  # ordered by the pagination: newest first

    @extend_schema(
        summary="Support sessions",
        description="An agent sees only their own sessions unless the organization's `agents_see_all_sessions` is on; "
        "owners, admins and the organization's own credentials see all.",
        operation_id="sessions_list",
        responses=SessionOutput(many=True),
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="Search: customer name or e-mail, share code, agent name or e-mail, ticket reference.",
            ),
            OpenApiParameter("status", str, description="Comma-separated statuses, e.g. 'active,waiting'."),
            OpenApiParameter(
                "outcome", str, description="How it finished: an `end_reason` (e.g. 'agent_ended'), or 'live'."
            ),
            OpenApiParameter("agent", str, description="The agent's user id."),
            OpenApiParameter("since", str, description="Created at or after: a date (UTC day) or ISO 8601 date-time."),
            OpenApiParameter("until", str, description="Created at or before: a date (through that day) or ISO 8601."),
            OpenApiParameter("created_after", str, description="ISO 8601 date-time."),
            OpenApiParameter("created_before", str, description="ISO 8601 date-time."),
        ],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        counts = workflow.notes_counts(self.org.organization, [session.pk for session in page])
        for session in page:
            session.notes_total = counts.get(session.pk, 0)
        return self.get_paginated_response(SessionOutput(page, many=True).data)

    @extend_schema(request=SessionInput, responses={201: SessionOutput}, summary="Start a support session")
    def post(self, request):
        data = SessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        agent = None
        if values.pop("agent_id", None):
            membership = (
                Membership.objects.for_org(self.org.organization)
                .select_related("user")
                .filter(user__public_id=request.data["agent_id"])
                .first()
            )
            if membership is None:
                raise NotFound(_("No such agent in this organization."), details={"field": "agent_id"})
            agent = membership.user
        actor = _acting(request, self.org)
        session = services.session_start(org=self.org, actor=actor, agent=agent, **values)
        return Response(SessionOutput(session).data, status=status.HTTP_201_CREATED)


class _OneSessionView(OrgAPIView):
    """Base of the endpoints under /sessions/{session_id}: each handler names what it does with the session
    (``view`` or ``operate``) and :func:`sessions.selectors.session_for` decides, as for the pages and the socket."""

    model = SupportSession
    lookup_field = "public_id"
    lookup_url_kwarg = "session_id"
    serializer_class = SessionOutput

    def scope_queryset(self, queryset):
        return selectors.sessions_visible(self.org, queryset).select_related("agent", "organization")

    def session(self, action: selectors.SessionAction) -> SupportSession:
        return selectors.session_for(self.org, self.kwargs[self.lookup_url_kwarg], action)


class SessionDetailsInput(StrictSerializer):
    tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="At most 10 labels of up to 32 letters, digits, spaces, `. _ + -`; replaces the list.",
    )
    ticket_ref = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Up to 64 letters, digits and `. _ : / # -` (e.g. `SUP-1234`); empty clears it.",
    )


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionDetailView(_OneSessionView):
    required_scopes = {"GET": "sessions:read", "PATCH": "sessions:write"}

    @extend_schema(summary="One support session")
    def get(self, request, session_id: str):
        return Response(SessionOutput(self.session(selectors.SessionAction.VIEW)).data)

    @extend_schema(
        request=SessionDetailsInput,
        summary="Set a session's tags and ticket reference",
        description="Live or ended. Who may operate the session (its agent, owners and admins, the organization's "
        "credentials). Never shown to the customer.",
    )
    def patch(self, request, session_id: str):
        data = SessionDetailsInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = self.session(selectors.SessionAction.OPERATE)
        session = workflow.session_details_update(
            session=session,
            actor=_acting(request, self.org),
            tags=data.validated_data.get("tags"),
            ticket_ref=data.validated_data.get("ticket_ref"),
        )
        return Response(SessionOutput(session).data)


class NoteOutput(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = SessionNote
        fields = ["id", "author", "text", "created_at"]

    def get_author(self, note: SessionNote) -> dict:
        return {"id": note.author.public_id if note.author_id else None, "name": note.author_label}


class NoteInput(StrictSerializer):
    text = serializers.CharField(max_length=workflow.MAX_NOTE_CHARS, help_text="1 to 4,000 characters.")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionNotesView(_OneSessionView):
    required_scopes = {"GET": "sessions:read", "POST": "sessions:write"}
    serializer_class = NoteOutput
    pagination_class = None

    @extend_schema(summary="A session's private notes", responses=NoteOutput(many=True))
    def get(self, request, session_id: str):
        session = self.session(selectors.SessionAction.VIEW)
        return Response(NoteOutput(workflow.session_notes(session).select_related("author"), many=True).data)

    @extend_schema(request=NoteInput, responses={201: NoteOutput}, summary="Add a private note to a session")
    def post(self, request, session_id: str):
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = self.session(selectors.SessionAction.OPERATE)
        note = workflow.session_note_add(
            session=session, actor=_acting(request, self.org), text=data.validated_data["text"]
        )
        return Response(NoteOutput(note).data, status=status.HTTP_201_CREATED)


class TransferInput(StrictSerializer):
    agent_id = serializers.CharField(max_length=40, help_text="The member (public user id) who takes the session.")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionTransferView(_OneSessionView):
    required_scopes = {"POST": "sessions:write"}

    @extend_schema(
        request=TransferInput,
        summary="Transfer a live session to another agent",
        description="The customer stays connected and is shown the new agent's name; the previous agent's viewer is "
        "closed. Its agent, owners and admins, or the organization's credentials. `404` for an agent of another "
        "organization, `400 not_an_agent` for a member whose role takes no sessions.",
    )
    def post(self, request, session_id: str):
        data = TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = workflow.session_transfer(
            org=self.org,
            session=self.session(selectors.SessionAction.OPERATE),
            to_agent_id=data.validated_data["agent_id"],
            actor=_acting(request, self.org),
        )
        return Response(SessionOutput(session).data)


class InviteEmailInput(StrictSerializer):
    email = serializers.CharField(max_length=254, help_text="The customer's e-mail address.")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionInviteEmailView(_OneSessionView):
    required_scopes = {"POST": "sessions:write"}

    @extend_schema(
        request=InviteEmailInput,
        summary="E-mail the customer the join link",
        description="While the session waits for the customer. At most 3 e-mails a session and 60 an organization "
        "in ten minutes (`429 rate_limited`).",
    )
    def post(self, request, session_id: str):
        data = InviteEmailInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = workflow.session_invite_email(
            session=self.session(selectors.SessionAction.OPERATE),
            actor=_acting(request, self.org),
            email=data.validated_data["email"],
        )
        return Response(SessionOutput(session).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionEventsView(_OneSessionView):
    required_scopes = {"GET": "sessions:read"}
    serializer_class = EventOutput
    pagination_class = None  # the whole log at once (the document promised pages it never had)

    @extend_schema(summary="A session's event log", responses=EventOutput(many=True))
    def get(self, request, session_id: str):
        session = self.session(selectors.SessionAction.VIEW)
        return Response(EventOutput(selectors.session_events(session), many=True).data)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionEndView(_OneSessionView):
    required_scopes = {"POST": "sessions:write"}

    @extend_schema(
        request=None,
        summary="End a session",
        description="Its agent, owners and admins, or the organization's own credentials. Another agent gets "
        "`403 session_not_yours` when the organization lets agents see every session, else `404`.",
    )
    def post(self, request, session_id: str):
        actor = _acting(request, self.org)
        session = services.session_end(session=self.session(selectors.SessionAction.OPERATE), actor=actor)
        return Response(SessionOutput(session).data)


JoinOutput = inline_serializer(
    "JoinOutput",
    {
        "session_id": serializers.CharField(),
        "customer_token": serializers.CharField(help_text="Credential for this one session."),
        "organization": serializers.CharField(),
        "agent": serializers.CharField(),
        "status": serializers.CharField(),
        "ice_servers": serializers.ListField(child=serializers.DictField()),
        "websocket_url": serializers.CharField(),
    },
)


def joined(session: SupportSession, token: str) -> dict:
    """What a customer's client needs once it holds the session's credential (by code, or by an attend ticket)."""
    return {
        "session_id": session.public_id,
        "customer_token": token,
        "organization": session.organization.name,
        "agent": session.agent_name,
        "status": session.status,
        "ice_servers": ice_servers(f"customer-{session.public_id}"),
        "websocket_url": f"/ws/v1/sessions/{session.public_id}",
    }


class JoinInput(StrictSerializer):
    code = serializers.CharField(max_length=20)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)


class JoinView(PublicAPIView):
    """The customer's way in: a code, no account."""

    @extend_schema(
        request=JoinInput,
        responses=JoinOutput,
        summary="Join a session with its code (customers; no sign-in)",
        description="At most 10 wrong codes a minute per address and per code (`429 rate_limited`).",
    )
    @no_store  # the customer's credential
    def post(self, request):
        data = JoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        session, token = services.session_join_guarded(
            code=data.validated_data["code"],
            name=data.validated_data.get("name", ""),
            actor=services.Actor.from_request(request, "customer"),
        )
        return Response(joined(session, token))


class IceServersView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "IceServers", {"ice_servers": serializers.ListField(child=serializers.DictField())}
        ),
        summary="STUN and TURN servers in the RTCIceServer shape",
        description="TURN credentials follow the TURN REST convention and expire within hours.",
    )
    def get(self, request):
        identity = request.auth.credential_id or "user"
        return Response({"ice_servers": ice_servers(identity)})


class AttendInput(StrictSerializer):
    ticket = serializers.CharField(max_length=200)


class AttendView(PublicAPIView):
    """Attended control: the desktop agent trades the ticket of the launcher the customer's page downloaded."""

    @extend_schema(
        request=AttendInput,
        responses=JoinOutput,
        summary="Join a session as the desktop agent, with a launcher's ticket (attended control)",
        description="The ticket works once, for ten minutes: `404 invalid_ticket` after that, `409 session_ended` "
        "once the session is over, `429 rate_limited` after repeated wrong tickets from one address. Open the "
        "session socket with `Authorization: Customer <customer_token>`; the customer's page then hands over.",
    )
    @no_store
    def post(self, request):
        data = AttendInput(data=request.data)
        data.is_valid(raise_exception=True)
        actor = services.Actor.from_request(request, "customer")
        session, token = services.attend_ticket_redeem(ticket=data.validated_data["ticket"], actor=actor)
        return Response(joined(session, token))
