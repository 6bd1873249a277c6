"""One ASGI application for HTTP and WebSocket, served by uvicorn (``python -m connect.serve``).

WebSocket connections pass origin validation (an ``Origin`` must be an allowed host; native clients, which send none,
need a bearer token or a ticket: ``signaling.origin``) and authentication before reaching a consumer.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connect.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)

from connect.middleware import ASGIBodyGuard  # noqa: E402
from connect.request_id import ConnectionRequestId  # noqa: E402
from signaling.auth import WebSocketAuthMiddleware  # noqa: E402
from signaling.origin import OriginValidator  # noqa: E402
from signaling.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Request bodies are counted as they arrive (chunked too) and timed between chunks: connect.middleware.
        "http": ASGIBodyGuard(django_asgi_app),
        # One request id per connection for its log lines and tasks (HTTP's is set by Django middleware).
        "websocket": ConnectionRequestId(OriginValidator(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns)))),
    }
)

# Everything imported so far lives as long as the process: move it out of the collector's reach, so a full
# collection walks only what requests and connections allocate, not Django's import-time objects.
gc.freeze()
