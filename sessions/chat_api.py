"""API v1 for a session's chat: the lines, and the transcript as text or JSON (sessions.chat).

Reading the chat is viewing the session: the same rule as its event log (``sessions.selectors.session_for`` with
``view``), so another organization, or another agent while ``agents_see_all_sessions`` is off, gets 404."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from connect.api.views import ORG_HEADER_PARAMETER
from connect.nocache import no_store

from . import chat, selectors
from .api import _OneSessionView


class ChatLineOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The line's id (`msg_...`), as the signaling `chat` message carries it.")
    sender_kind = serializers.ChoiceField(choices=["agent", "customer", "system"])
    sender_id = serializers.CharField(allow_null=True, help_text="The agent's user id; null for the customer.")
    sender_name = serializers.CharField(help_text="The name shown beside the line when it was sent.")
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class TranscriptSessionOutput(serializers.Serializer):
    id = serializers.CharField()
    organization = serializers.CharField()
    agent = serializers.CharField()
    customer_name = serializers.CharField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class TranscriptOutput(serializers.Serializer):
    format = serializers.CharField(help_text=f"`{chat.TRANSCRIPT_FORMAT}`")
    session = TranscriptSessionOutput()
    messages = ChatLineOutput(many=True)


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionChatView(_OneSessionView):
    required_scopes = {"GET": "sessions:read"}
    serializer_class = ChatLineOutput
    pagination_class = None  # the whole chat at once: a session's chat is bounded by its rate limit and length

    @extend_schema(
        summary="A session's chat",
        description="Every chat line of the session, oldest first, with the sender's name and the time it was kept. "
        "Same access as the session's event log.",
        responses=ChatLineOutput(many=True),
    )
    @no_store
    def get(self, request, session_id: str):
        session = self.session(selectors.SessionAction.VIEW)
        return Response([chat.chat_line_data(line) for line in chat.chat_lines(session)])


def transcript_response(session, extension: str) -> HttpResponse:
    """The transcript of ``session`` as a download (``txt`` or ``json``); the API and the pages answer with it."""
    if extension == "json":
        body, content_type = chat.transcript_json_text(session), "application/json; charset=utf-8"
    else:
        body, content_type = chat.transcript_text(session), "text/plain; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{chat.transcript_filename(session, extension)}"'
    response["Cache-Control"] = "no-store"
    return response


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionChatTranscriptTextView(_OneSessionView):
    required_scopes = {"GET": "sessions:read"}

    @extend_schema(
        summary="A session's chat transcript (text)",
        description="A download: a heading naming the session, agent and customer, then `[time UTC] name: text` per "
        "line.",
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The transcript.")},
    )
    def get(self, request, session_id: str):
        return transcript_response(self.session(selectors.SessionAction.VIEW), "txt")


@extend_schema(parameters=[ORG_HEADER_PARAMETER])
class SessionChatTranscriptJSONView(_OneSessionView):
    required_scopes = {"GET": "sessions:read"}

    @extend_schema(summary="A session's chat transcript (JSON)", responses=TranscriptOutput)
    def get(self, request, session_id: str):
        return transcript_response(self.session(selectors.SessionAction.VIEW), "json")
