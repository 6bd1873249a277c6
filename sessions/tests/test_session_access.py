"""One access rule per support session (sessions.selectors), the same on the API, the pages and the WebSocket.

bob (agent) runs the session. dana is another agent of Acme, carol an admin, alice the owner; gary is an admin of
Globex; the API key is Acme's own. Every operation is tried by each of them with ``agents_see_all_sessions`` off and
on: whoever may not view gets 404, whoever may view but not operate gets 403 ``session_not_yours``.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from connect.tests.test_asgi import session_cookie_for
from integrations.credentials import services as integration_services
from orgs import services as org_services
from orgs.models import Membership, Organization, Role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import UserFactory
from sessions import services
from sessions.models import Status, SupportSession
from signaling.consumers import CLOSE_NOT_FOUND, CLOSE_REFUSED

OK, HIDDEN, REFUSED = "ok", "404", "403"
VIEW_OPS = ["api_detail", "api_events"]
OPERATE_OPS = ["api_end", "page_viewer", "page_end"]
ROLES = ["own_agent", "other_agent", "admin", "owner", "other_org_admin", "api_key"]


def expected(role: str, setting_on: bool, operate: bool) -> str:
    """The matrix, written out once for the tests (sessions/selectors.py's docstring is the rule)."""
    if role == "other_org_admin":
        return HIDDEN
    if role == "other_agent":
        if not setting_on:
            return HIDDEN
        return REFUSED if operate else OK
    return OK


def _member(organization, email: str, role: str):
    user = UserFactory(email=email)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


def _people(acme, globex) -> dict:
    return {
        "own_agent": Membership.objects.for_org(acme).get(user__email="bob@acme.test").user,
        "other_agent": _member(acme, "dana@acme.test", Role.AGENT),
        "admin": _member(acme, "carol@acme.test", Role.ADMIN),
        "owner": Membership.objects.for_org(acme).get(user__email="alice@acme.test").user,
        "other_org_admin": _member(globex, "gary@globex.test", Role.ADMIN),
    }


def _set(acme, alice, on: bool) -> None:
    org_services.organization_update_settings(organization=acme, actor=alice, agents_see_all_sessions=on)
    acme.refresh_from_db()


def _start(agent, **fields) -> SupportSession:
    return services.session_start(
        org=org_context_for_user(agent, "acme"), actor=services.Actor(kind="agent", user=agent), **fields
    )


def _client_for(role: str, people: dict, acme, alice) -> APIClient:
    client = APIClient()
    if role == "api_key":
        _key, secret = integration_services.api_key_create(
            org=org_context_for_user(alice, "acme"), name="CRM", scopes=["sessions:read", "sessions:write"]
        )
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.force_login(people[role])
    return client


def _status_of(response) -> str:
    if response.status_code in (200, 302):
        return OK
    return str(response.status_code)


def _run(client: APIClient, op: str, session: SupportSession, org_slug: str):
    sid = session.public_id
    if op == "api_detail":
        return client.get(f"/api/v1/sessions/{sid}")
    if op == "api_events":
        return client.get(f"/api/v1/sessions/{sid}/events")
    if op == "api_end":
        return client.post(f"/api/v1/sessions/{sid}/end")
    if op == "page_viewer":
        return client.get(reverse("session_viewer", args=[org_slug, sid]))
    if op == "page_end":
        return client.post(reverse("session_end", args=[org_slug, sid]))
    raise AssertionError(op)


# Pages are for people: an API key has none.
MATRIX = [(op, role) for op in VIEW_OPS + OPERATE_OPS for role in ROLES if not (role == "api_key" and "page" in op)]


@pytest.mark.django_db
@pytest.mark.parametrize("setting_on", [False, True], ids=["setting_off", "setting_on"])
@pytest.mark.parametrize(("op", "role"), MATRIX)
def test_every_session_operation_follows_the_one_rule(op, role, setting_on, acme, globex, alice, bob):
    people = _people(acme, globex)
    _set(acme, alice, setting_on)
    session = _start(bob, customer_name="Carl Customer")
    client = _client_for(role, people, acme, alice)
    org_slug = "globex" if role == "other_org_admin" else "acme"

    response = _run(client, op, session, org_slug)

    want = expected(role, setting_on, operate=op in OPERATE_OPS)
    assert _status_of(response) == want, (response.status_code, response.content[:300])
    session.refresh_from_db()
    ended = op.endswith("_end") and want == OK
    assert (session.status == Status.ENDED) is ended  # refused: nothing changed
    if op.startswith("api_") and want != OK:
        error = response.json()["error"]
        assert error["code"] == ("not_found" if want == HIDDEN else "session_not_yours")
        if want == REFUSED:
            assert "another agent" in error["message"]
        else:
            assert "bob" not in response.content.decode().lower()  # nothing tells them whose it is
    if op == "page_viewer" and want == REFUSED:
        assert "only its agent or an admin" in response.content.decode()
    if op == "api_detail" and want == OK:
        assert response.json()["id"] == session.public_id and response.json()["customer_name"] == "Carl Customer"
    if op == "api_events" and want == OK:
        assert [e["type"] for e in response.json()] == ["created"]


@pytest.mark.django_db
@pytest.mark.parametrize("setting_on", [False, True], ids=["setting_off", "setting_on"])
@pytest.mark.parametrize("role", ROLES)
def test_lists_show_an_agent_only_their_own_sessions_unless_the_setting_is_on(
    role, setting_on, acme, globex, alice, bob
):
    people = _people(acme, globex)
    _set(acme, alice, setting_on)
    bobs = _start(bob, customer_name="Bob's Customer")
    services.session_end(session=_start(bob, customer_name="Bob's Past Customer"), actor=services.Actor(kind="agent"))
    danas = _start(people["other_agent"], customer_name="Dana's Customer")
    client = _client_for(role, people, acme, alice)

    listed = {s["id"] for s in client.get("/api/v1/sessions").json()["results"]}

    sees_bobs = expected(role, setting_on, operate=False) == OK
    assert (bobs.public_id in listed) is sees_bobs
    sees_danas = role != "other_org_admin" and (role != "own_agent" or setting_on)
    assert (danas.public_id in listed) is sees_danas
    if role in ("api_key", "other_org_admin"):
        return
    page = client.get(reverse("session_dashboard", args=["globex" if role == "other_org_admin" else "acme"]))
    html = page.content.decode()
    assert ("Bob&#x27;s Customer" in html) is sees_bobs  # the live list
    assert ("Bob&#x27;s Past Customer" in html) is sees_bobs  # the history
    # Listed is not operable: only those who may run a session get a link to its viewer.
    link = reverse("session_viewer", args=["acme", bobs.public_id])
    assert (link in html) is (expected(role, setting_on, operate=True) == OK)


@pytest.mark.django_db
@pytest.mark.parametrize("setting_on", [False, True], ids=["setting_off", "setting_on"])
def test_list_query_count_does_not_grow_with_the_page(setting_on, acme, globex, alice, bob):
    people = _people(acme, globex)
    _set(acme, alice, setting_on)
    client = _client_for("other_agent", people, acme, alice)
    counts = []
    for _ in range(2):
        for _ in range(3):
            _start(bob)
            _start(people["other_agent"])
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/sessions?limit=50").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- The organization setting ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_owners_and_admins_turn_the_setting_on_from_the_settings_page(client, acme, alice, bob):
    client.force_login(alice)
    page = client.get(reverse("org_settings", args=["acme"])).content.decode()
    assert "Agents can see every support session" in page
    response = client.post(reverse("org_settings", args=["acme"]), {"agents_see_all_sessions": "on"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.agents_see_all_sessions and not acme.require_mfa
    client.force_login(bob)
    assert client.post(reverse("org_settings", args=["acme"]), {}).status_code == 403
    acme.refresh_from_db()
    assert acme.agents_see_all_sessions


@pytest.mark.django_db
def test_owners_and_admins_turn_the_setting_on_through_the_api(acme, alice, bob, globex, gina):
    owner = APIClient()
    owner.force_login(alice)
    assert owner.get("/api/v1/organization").json()["agents_see_all_sessions"] is False
    response = owner.patch("/api/v1/organization", {"agents_see_all_sessions": True}, format="json")
    assert response.status_code == 200 and response.json()["agents_see_all_sessions"] is True
    acme.refresh_from_db()
    assert acme.agents_see_all_sessions
    # Nothing changes, nothing is written.
    with CaptureQueriesContext(connection) as queries:
        assert owner.patch("/api/v1/organization", {"agents_see_all_sessions": True}, format="json").status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and "orgs_organization" in q["sql"]]

    agent = APIClient()
    agent.force_login(bob)
    refused = agent.patch("/api/v1/organization", {"agents_see_all_sessions": False}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "missing_scope"
    _key, secret = integration_services.api_key_create(
        org=org_context_for_user(alice, "acme"), name="ops", scopes=["org:read", "org:write"]
    )
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    refused = machine.patch("/api/v1/organization", {"agents_see_all_sessions": False}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "person_required"
    assert owner.patch("/api/v1/organization", {"bogus": True}, format="json").status_code == 400
    acme.refresh_from_db()
    assert acme.agents_see_all_sessions
    assert not Organization.objects.get(pk=globex.pk).agents_see_all_sessions  # another organization's untouched


# --- The agent WebSocket ---------------------------------------------------------------------------------

WS_ROLES = ["own_agent", "other_agent", "admin", "owner", "other_org_admin"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("setting_on", [False, True], ids=["setting_off", "setting_on"])
@pytest.mark.parametrize("role", WS_ROLES)
async def test_the_agent_websocket_follows_the_one_rule(role, setting_on, acme, globex, alice, bob):
    from signaling.tests.test_session_consumer import agent_socket, new_session, open_socket

    people = await database_sync_to_async(_people)(acme, globex)
    await database_sync_to_async(_set)(acme, alice, setting_on)
    session_id, _token = await new_session(bob)
    want = expected(role, setting_on, operate=True)
    if want == OK:
        communicator = await agent_socket(people[role], session_id)  # the hello, as the session's agent
        await communicator.disconnect()
        return
    cookie = await session_cookie_for(people[role])
    communicator, connected, code = await open_socket(f"/ws/v1/sessions/{session_id}", [(b"cookie", cookie)])
    if want == HIDDEN:
        assert not connected and code == CLOSE_NOT_FOUND
        return
    assert connected
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == "session_not_yours" and "another agent" in error["message"]
    assert await communicator.receive_output(timeout=1) == {"type": "websocket.close", "code": CLOSE_REFUSED}
