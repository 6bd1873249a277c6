from django.urls import path

from machines.consumers import MachineConsumer
from meetings.consumers import MeetingConsumer

from .consumers import HelloConsumer, SessionConsumer
from .org_live import OrgLiveConsumer

websocket_urlpatterns = [
    path("ws/v1/hello", HelloConsumer.as_asgi()),
    path("ws/v1/sessions/<str:session_id>", SessionConsumer.as_asgi()),
    path("ws/v1/orgs/<str:org_slug>/live", OrgLiveConsumer.as_asgi()),
    path("ws/v1/machine", MachineConsumer.as_asgi()),
    path("ws/v1/meetings/<str:meeting_id>", MeetingConsumer.as_asgi()),
]
