from django.urls import path

from .consumers import HelloConsumer

websocket_urlpatterns = [
    path("ws/v1/hello", HelloConsumer.as_asgi()),
]
