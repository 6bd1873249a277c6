"""WebSocket authentication goes through the same layer as the API: cookie (after MFA), bearer tokens of every
kind, and single-use tickets that expire within a minute."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from integrations.credentials.services import api_key_create
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import PASSWORD
from signaling.auth import _ticket_key

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


async def connect(path="/ws/v1/hello", headers=()):
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers])
    connected, code = await communicator.connect()
    hello = await communicator.receive_json_from() if connected else None
    await communicator.disconnect()
    return connected, code, hello


@database_sync_to_async
def native_token(email):
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": email, "password": PASSWORD, "device": {"name": "Surface", "platform": "windows"}},
        format="json",
    )
    return response.json()["access_token"]


@database_sync_to_async
def ticket_for(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/v1/ws-ticket")
    assert response.status_code == 200
    return response.json()


@database_sync_to_async
def api_key(user):
    return api_key_create(org=org_context_for_user(user, "acme"), name="ws", scopes=["sessions:read"])[1]


async def test_native_app_connects_with_its_bearer_header(bob):
    token = await native_token("bob@acme.test")
    connected, _code, hello = await connect(headers=[(b"authorization", f"Bearer {token}".encode())])
    assert connected and hello["auth"] == "native" and hello["user"]["email"] == "bob@acme.test"


async def test_api_key_connects_as_its_organization(alice):
    secret = await api_key(alice)
    connected, _code, hello = await connect(headers=[(b"authorization", f"Bearer {secret}".encode())])
    assert connected and hello["auth"] == "api_key" and hello["user"] is None


async def test_bad_bearer_is_refused(bob):
    connected, code, _ = await connect(headers=[(b"authorization", b"Bearer cat_forged")])
    assert not connected and code == 4401


async def test_ticket_works_once(bob):
    token = await native_token("bob@acme.test")
    issued = await ticket_for(token)
    assert issued["expires_in"] <= 60 and issued["ticket"].startswith("wst_")
    connected, _code, hello = await connect(f"/ws/v1/hello?ticket={issued['ticket']}")
    assert connected and hello["user"]["email"] == "bob@acme.test" and hello["auth"] == "native"
    again, code, _ = await connect(f"/ws/v1/hello?ticket={issued['ticket']}")
    assert not again and code == 4401


async def test_expired_ticket_is_refused(bob):
    token = await native_token("bob@acme.test")
    issued = await ticket_for(token)
    # The cache entry's time-to-live is the expiry; once the entry is gone, the ticket is.
    await database_sync_to_async(cache.delete)(_ticket_key(issued["ticket"]))
    connected, code, _ = await connect(f"/ws/v1/hello?ticket={issued['ticket']}")
    assert not connected and code == 4401


async def test_forged_ticket_is_refused(bob):
    connected, code, _ = await connect("/ws/v1/hello?ticket=wst_forged")
    assert not connected and code == 4401


async def test_session_waiting_for_its_mfa_code_is_refused(bob):
    await database_sync_to_async(TOTPDevice.objects.create)(user=bob, name="phone", confirmed=True)
    cookie = await session_cookie_for(bob)  # a password-only session: no OTP device recorded in it
    connected, code, _ = await connect(headers=[(b"cookie", cookie)])
    assert not connected and code == 4401


async def test_an_open_page_marks_the_agent_online(bob):
    from signaling import live

    cookie = await session_cookie_for(bob)
    communicator = WebsocketCommunicator(application, "/ws/v1/hello", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()
    assert await live.online_agents([bob.public_id, "usr_nobody"]) == {bob.public_id}
    await communicator.disconnect()
