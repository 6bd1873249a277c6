from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .auth import ws_ticket_issue


class WebSocketTicketView(APIView):
    """A single-use ticket for opening a WebSocket from a browser without putting a token in the URL."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WebSocketTicket", {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
        ),
        summary="Get a single-use WebSocket ticket",
        description="Open the socket with `?ticket=<ticket>` within `expires_in` seconds. The ticket stands for "
        "the credential that asked for it and works once.",
    )
    def post(self, request):
        ticket = ws_ticket_issue(request.auth)
        return Response({"ticket": ticket, "expires_in": settings.CONNECT_WS_TICKET_SECONDS})
