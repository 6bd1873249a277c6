"""Sessions over the API: start, list with filters and a constant query count, events, end, join by code."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from connect import events
from sessions.models import SessionEvent, Status, SupportSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(acme, bob):
    client = APIClient()
    client.force_login(bob)
    return client


def start(client, **body):
    response = client.post("/api/v1/sessions", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def join(code, name="Carl Customer", ip="10.1.1.1"):
    return APIClient().post("/api/v1/join", {"code": code, "name": name}, format="json", REMOTE_ADDR=ip)


def test_agent_starts_a_session_with_a_nine_digit_code(agent_client, acme, bob):
    body = start(agent_client, customer_name="Carl")
    assert len(body["code"]) == 9 and body["code"].isdigit()
    assert body["join_url"].endswith(f"/join/{body['code']}") and body["status"] == "waiting"
    assert body["agent"]["id"] == bob.public_id and body["id"].startswith("ses_")
    session = SupportSession.objects.for_org(acme).get(public_id=body["id"])
    assert session.code_expires_at - timezone.now() <= timedelta(minutes=10)
    assert SessionEvent.objects.filter(session=session, type="created").exists()
    assert AuditEntry.objects.for_org(acme).filter(action="session.created", target_id=body["id"]).exists()


def test_join_returns_a_session_credential_and_ice_servers(agent_client, settings):
    settings.CONNECT_TURN_URLS = ["turn:127.0.0.1:3478"]
    settings.CONNECT_TURN_SECRET = "s3cret"
    body = start(agent_client)
    response = join(body["code"])
    assert response.status_code == 200
    joined = response.json()
    assert joined["session_id"] == body["id"] and joined["organization"] == "Acme Inc"
    assert joined["customer_token"].startswith("cst_") and joined["status"] == "consent_requested"
    assert joined["ice_servers"][0]["urls"] == ["turn:127.0.0.1:3478"]
    # The code is spent: a second customer cannot join with it.
    second = join(body["code"])
    assert second.status_code == 409 and second.json()["error"]["code"] == "already_joined"


def test_unknown_and_expired_codes(agent_client, acme):
    body = start(agent_client)
    assert join("000000000" if body["code"] != "000000000" else "111111111").json()["error"]["code"] == "unknown_code"
    SupportSession.objects.for_org(acme).filter(public_id=body["id"]).update(
        code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = join(body["code"])
    assert response.status_code == 404 and response.json()["error"]["code"] == "code_expired"
    assert SupportSession.objects.for_org(acme).get(public_id=body["id"]).status == Status.EXPIRED
    assert APIClient().post("/api/v1/join", {"code": "12ab"}, format="json").json()["error"]["code"] == "invalid_code"


def test_code_guessing_is_rate_limited_per_address(agent_client):
    body = start(agent_client)
    for i in range(10):
        assert join(f"{i:09d}" if f"{i:09d}" != body["code"] else "999999999").status_code == 404
    response = join(body["code"])  # even the right code, from this address, for a minute
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert join(body["code"], ip="10.9.9.9").status_code == 200


def test_code_guessing_is_rate_limited_per_code(agent_client):
    for i in range(10):
        join("123456789", ip=f"10.0.0.{i}")
    assert join("123456789", ip="10.0.1.1").status_code == 429


def test_list_filters_and_keeps_a_constant_query_count(agent_client, acme, bob, globex, gina):
    for _ in range(3):
        start(agent_client)
    ended = start(agent_client)
    agent_client.post(f"/api/v1/sessions/{ended['id']}/end")
    other = APIClient()
    other.force_login(gina)
    start(other)

    listed = agent_client.get("/api/v1/sessions").json()
    assert len(listed["results"]) == 4  # Globex's session is not in Acme's list
    assert {s["status"] for s in agent_client.get("/api/v1/sessions?status=ended").json()["results"]} == {"ended"}
    bad = agent_client.get("/api/v1/sessions?status=bogus")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "status"
    future = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert agent_client.get("/api/v1/sessions", {"created_after": future}).json()["results"] == []

    with CaptureQueriesContext(connection) as few:
        agent_client.get("/api/v1/sessions?limit=2")
    for _ in range(10):
        start(agent_client)
    with CaptureQueriesContext(connection) as many:
        agent_client.get("/api/v1/sessions?limit=50")
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"] for q in many.captured_queries)  # its cost would grow with history


def test_pages_neither_repeat_nor_skip_sessions_created_meanwhile(agent_client, acme, bob):
    first = [start(agent_client)["id"] for _ in range(5)][::-1]  # newest first
    page = agent_client.get("/api/v1/sessions?limit=2").json()
    assert [s["id"] for s in page["results"]] == first[:2]
    newer = start(agent_client)["id"]  # a session starts while the client pages
    seen = [s["id"] for s in page["results"]]
    while page["next"]:
        page = agent_client.get(page["next"]).json()
        seen += [s["id"] for s in page["results"]]
    assert seen == first and newer not in seen
    assert agent_client.get("/api/v1/sessions").json()["results"][0]["id"] == newer


def test_page_sizes_are_bounded_and_bad_cursors_refused(agent_client, acme, bob):
    start(agent_client)
    assert len(agent_client.get("/api/v1/sessions?limit=100000").json()["results"]) == 1  # capped, not refused
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from connect.api.pagination import BoundedLimitOffsetPagination, NewestFirstCursorPagination

    huge = Request(APIRequestFactory().get("/", {"limit": 100000}))
    assert NewestFirstCursorPagination().get_page_size(huge) == 200
    assert BoundedLimitOffsetPagination().get_limit(huge) == 200
    bad = agent_client.get("/api/v1/sessions?cursor=not-a-cursor")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"


def test_events_and_end(agent_client):
    body = start(agent_client)
    join(body["code"])
    ended = agent_client.post(f"/api/v1/sessions/{body['id']}/end").json()
    assert ended["status"] == "ended" and ended["end_reason"] == "agent_ended" and ended["code"] is None
    kinds = [e["type"] for e in agent_client.get(f"/api/v1/sessions/{body['id']}/events").json()]
    assert kinds == ["created", "customer_joined", "ended"]
    # Ending twice changes nothing.
    assert agent_client.post(f"/api/v1/sessions/{body['id']}/end").json()["ended_at"] == ended["ended_at"]


def test_other_organization_cannot_reach_a_session(agent_client, acme, globex, gina):
    body = start(agent_client)
    other = APIClient()
    other.force_login(gina)
    for method, url in [
        ("get", f"/api/v1/sessions/{body['id']}"),
        ("get", f"/api/v1/sessions/{body['id']}/events"),
        ("post", f"/api/v1/sessions/{body['id']}/end"),
    ]:
        assert getattr(other, method)(url).status_code == 404
    assert SupportSession.objects.for_org(acme).get(public_id=body["id"]).status == Status.WAITING


def test_api_key_starts_sessions_for_a_named_agent(acme, alice, bob):
    from integrations.credentials.services import api_key_create
    from orgs.tenancy import org_context_for_user

    _key, secret = api_key_create(org=org_context_for_user(alice, "acme"), name="crm", scopes=["sessions:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    missing = client.post("/api/v1/sessions", {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "agent_required"
    body = start(client, agent_id=bob.public_id)
    assert body["agent"]["id"] == bob.public_id
    assert client.get("/api/v1/sessions").status_code == 403  # the key has no sessions:read


def test_events_are_emitted_after_commit(agent_client, django_capture_on_commit_callbacks):
    seen = []
    handler = events.subscribe(lambda event: seen.append((event.type, event.status)), to=events.SessionEvent)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            body = start(agent_client)
        with django_capture_on_commit_callbacks(execute=True):
            agent_client.post(f"/api/v1/sessions/{body['id']}/end")
    finally:
        events.unsubscribe(handler)
    assert seen == [("session.created", "waiting"), ("session.ended", "ended")]


def test_ice_servers_follow_the_turn_rest_convention(agent_client, settings):
    import base64
    import hashlib
    import hmac
    import time

    settings.CONNECT_STUN_URLS = ["stun:127.0.0.1:3478"]
    settings.CONNECT_TURN_URLS = ["turn:127.0.0.1:3478?transport=udp"]
    settings.CONNECT_TURN_SECRET = "shared-secret"
    servers = agent_client.get("/api/v1/ice-servers").json()["ice_servers"]
    assert servers[0] == {"urls": ["stun:127.0.0.1:3478"]}
    turn = servers[1]
    expiry, _identity = turn["username"].split(":", 1)
    assert time.time() < int(expiry) <= time.time() + 6 * 3600 + 5
    expected = base64.b64encode(hmac.new(b"shared-secret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


def test_beat_task_expires_unused_codes(agent_client, acme):
    from sessions.tasks import expire_unused_codes

    fresh = start(agent_client)
    stale = start(agent_client)
    SupportSession.objects.for_org(acme).filter(public_id=stale["id"]).update(
        code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert expire_unused_codes.delay().get() == 1
    assert SupportSession.objects.for_org(acme).get(public_id=stale["id"]).status == Status.EXPIRED
    assert SupportSession.objects.for_org(acme).get(public_id=fresh["id"]).status == Status.WAITING
