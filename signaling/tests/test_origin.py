"""The WebSocket origin check (signaling.origin): native clients, which send no ``Origin``, connect with a bearer token
or a ticket; a cookie or a customer token without an ``Origin`` is refused; an ``Origin`` of another host is refused
whatever the credential."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from signaling.consumers import CLOSE_UNAUTHENTICATED
from signaling.tests.credentials import native_token, ticket_for
from signaling.tests.test_session_consumer import new_session

pytestmark = pytest.mark.django_db(transaction=True)
OURS = (b"origin", b"http://localhost")
EVIL = (b"origin", b"https://evil.example")


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


async def attempt(path: str, headers=()) -> tuple[bool, int | None, dict | None]:
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, code = await communicator.connect()
    first = await communicator.receive_json_from() if connected else None
    if connected:
        await communicator.disconnect()
    return connected, code, first


async def test_a_native_client_without_origin_connects_with_its_bearer_token(bob):
    token = await native_token("bob@acme.test")
    connected, _, hello = await attempt("/ws/v1/hello", [bearer(token)])
    assert connected and hello["auth"] == "native" and hello["user"]["email"] == "bob@acme.test"


async def test_a_native_client_without_origin_connects_with_a_ticket(bob):
    ticket = await ticket_for(await native_token("bob@acme.test"))
    connected, _, hello = await attempt(f"/ws/v1/hello?ticket={ticket}")
    assert connected and hello["user"]["email"] == "bob@acme.test"


async def test_a_desktop_agent_without_origin_opens_its_session_socket(acme, bob):
    session_id, _ = await new_session(bob)
    token = await native_token("bob@acme.test")
    connected, _, hello = await attempt(f"/ws/v1/sessions/{session_id}", [bearer(token)])
    assert connected and (hello["type"], hello["role"]) == ("hello", "agent")


async def test_a_cookie_without_origin_is_refused(bob):
    cookie = await session_cookie_for(bob)
    connected, _, _ = await attempt("/ws/v1/hello", [(b"cookie", cookie)])
    assert not connected
    connected, _, _ = await attempt("/ws/v1/hello", [OURS, (b"cookie", cookie)])
    assert connected  # the page it belongs to


async def test_a_customer_token_without_origin_is_refused(acme, bob):
    session_id, token = await new_session(bob)
    path = f"/ws/v1/sessions/{session_id}?customer_token={token}"
    assert not (await attempt(path))[0]
    # Adding some Authorization header does not exempt it: the customer token is what the session socket would use.
    assert not (await attempt(path, [(b"authorization", b"Bearer whatever")]))[0]
    connected, _, hello = await attempt(path, [OURS])
    assert connected and hello["role"] == "customer"


async def test_the_desktop_agent_joins_as_customer_with_its_token_in_a_header(acme, bob):
    """The desktop agent (no Origin) sends the customer token as ``Authorization: Customer``: it opens that one
    session as its customer, and nothing else."""
    session_id, token = await new_session(bob)
    other_id, _ = await new_session(bob)
    header = (b"authorization", f"Customer {token}".encode())
    connected, _, hello = await attempt(f"/ws/v1/sessions/{session_id}", [header])
    assert connected and hello["role"] == "customer"
    connected, code, _ = await attempt(f"/ws/v1/sessions/{other_id}", [header])
    assert (connected, code) == (False, 4404)
    connected, code, _ = await attempt(f"/ws/v1/sessions/{session_id}", [(b"authorization", b"Customer cst_wrong")])
    assert (connected, code) == (False, 4404)
    connected, code, _ = await attempt("/ws/v1/hello", [header])  # it is no agent's credential
    assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)


async def test_a_bearer_header_without_origin_never_lets_a_cookie_in(bob):
    """Without an Origin, a junk Authorization header gets past the origin check; the cookie beside it must not then
    authenticate the connection."""
    cookie = await session_cookie_for(bob)
    connected, code, _ = await attempt("/ws/v1/hello", [(b"authorization", b"x"), (b"cookie", cookie)])
    assert not connected and code == CLOSE_UNAUTHENTICATED


async def test_another_hosts_origin_is_refused_whatever_the_credential(acme, bob):
    token = await native_token("bob@acme.test")
    cookie = await session_cookie_for(bob)
    session_id, customer_token = await new_session(bob)
    ticket = await ticket_for(token)
    attempts = [
        ("/ws/v1/hello", [(b"cookie", cookie)]),
        ("/ws/v1/hello", [bearer(token)]),
        (f"/ws/v1/hello?ticket={ticket}", []),
        (f"/ws/v1/sessions/{session_id}", [bearer(token)]),
        (f"/ws/v1/sessions/{session_id}?customer_token={customer_token}", []),
    ]
    for origin in (EVIL, (b"origin", b"null"), (b"origin", b"http://localhost.evil.example")):
        for path, headers in attempts:
            connected, _, _ = await attempt(path, [origin, *headers])
            assert not connected, (origin, path)
    # Refused before authentication: the ticket was not spent, and works from our own page.
    connected, _, hello = await attempt(f"/ws/v1/hello?ticket={ticket}", [OURS])
    assert connected and hello["user"]["email"] == "bob@acme.test"


@pytest.mark.parametrize(
    "origins",
    [
        [b"http://[::1"],  # urllib cannot read it
        [b"http://localhost:99999"],  # a port out of range
        [b"http://localhost", b"https://evil.example"],  # which one?
        [b""],
    ],
)
async def test_unreadable_or_ambiguous_origins_are_refused(bob, origins):
    token = await native_token("bob@acme.test")
    connected, _, _ = await attempt("/ws/v1/hello", [*((b"origin", o) for o in origins), bearer(token)])
    assert not connected


async def test_allowed_hosts_decide(bob, settings):
    token = await native_token("bob@acme.test")
    settings.ALLOWED_HOSTS = ["connect.example.com"]
    assert not (await attempt("/ws/v1/hello", [OURS, bearer(token)]))[0]
    assert (await attempt("/ws/v1/hello", [(b"origin", b"https://connect.example.com"), bearer(token)]))[0]


async def test_the_customers_page_hands_over_when_the_desktop_agent_joins(acme, bob):
    """The page on the customer's computer hears ``handover`` when the desktop agent joins with the same credential;
    the agent itself does not."""
    session_id, token = await new_session(bob)
    page = WebsocketCommunicator(application, f"/ws/v1/sessions/{session_id}?customer_token={token}", headers=[OURS])
    assert (await page.connect())[0]
    assert (await page.receive_json_from())["type"] == "hello"
    desktop = WebsocketCommunicator(
        application, f"/ws/v1/sessions/{session_id}", headers=[(b"authorization", f"Customer {token}".encode())]
    )
    assert (await desktop.connect())[0]
    assert (await desktop.receive_json_from())["type"] == "hello"
    seen = [await page.receive_json_from(timeout=2)]
    while seen[-1]["type"] != "handover":
        seen.append(await page.receive_json_from(timeout=2))
    assert seen[-1] == {"v": 1, "type": "handover", "to": "desktop_agent"}
    assert await desktop.receive_nothing(timeout=0.3)
    await desktop.disconnect()
    await page.disconnect()
