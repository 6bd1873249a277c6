"""The one ASGI application: WebSocket connections pass origin validation and authentication."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from connect.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def session_cookie_for(user) -> bytes:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()


async def test_signed_in_browser_is_greeted(bob):
    cookie = await session_cookie_for(bob)
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    assert hello == {
        "type": "hello",
        "v": 1,
        "auth": "session",
        "user": {"id": bob.public_id, "email": "bob@acme.test"},
    }
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_anonymous_socket_is_closed():
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=[(b"origin", b"http://localhost")])
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_foreign_origin_is_refused(bob):
    cookie = await session_cookie_for(bob)
    headers = [(b"origin", b"https://evil.example"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected
