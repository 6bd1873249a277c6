"""The session workflow (sessions.workflow): transfer, notes, tags and ticket reference, the customer's rating, the
invitation by e-mail; through the services, the API, the pages and the webhook payloads, with the tenant boundary."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from audit.models import AuditEntry
from integrations.webhooks import services as webhooks
from orgs import services as org_services
from orgs.models import Role
from orgs.tests.factories import MembershipFactory
from sessions import workflow
from sessions.models import SessionEvent, SessionNote, Status, SupportSession
from sessions.services import Actor
from sessions.tests.factories import SupportSessionFactory
from sessions.views import CUSTOMER_SESSIONS_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(acme):
    """A second agent at Acme."""
    return MembershipFactory(
        organization=acme, role=Role.AGENT, user__email="dave@acme.test", user__name="Dave Doe"
    ).user


@pytest.fixture
def mona(acme):
    """A member of Acme whose role takes no sessions."""
    return MembershipFactory(organization=acme, role=Role.MEMBER, user__email="mona@acme.test").user


@pytest.fixture
def live(acme, bob):
    return SupportSessionFactory(organization=acme, agent=bob, active=True, customer_name="Carl Customer")


@pytest.fixture
def ended(acme, bob):
    return SupportSessionFactory(
        organization=acme,
        agent=bob,
        active=True,
        status=Status.ENDED,
        ended_at=timezone.now(),
        end_reason="agent_ended",
    )


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]


def verify(endpoint, request) -> dict:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return Webhook(endpoint.secret).verify(request["body"], headers)


# --- Transfer ---------------------------------------------------------------------------------------------------


def test_agent_transfers_a_live_session_to_another_agent(live, bob, dave, acme):
    response = api(bob).post(f"/api/v1/sessions/{live.public_id}/transfer", {"agent_id": dave.public_id}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["agent"] == {"id": dave.public_id, "name": dave.get_full_name()}
    live.refresh_from_db()
    assert live.agent == dave and live.agent_label == dave.get_full_name() and live.status == Status.ACTIVE
    logged = SessionEvent.objects.for_org(acme).get(session=live, type="transferred")
    assert logged.data["from"]["id"] == bob.public_id and logged.data["to"]["id"] == dave.public_id
    assert AuditEntry.objects.for_org(acme).filter(action="session.transferred", target_id=live.public_id).exists()
    # The new agent can now operate it; the previous one (an agent) can no longer even open the viewer.
    assert api(dave).get(reverse("session_viewer", args=["acme", live.public_id])).status_code == 200
    assert api(bob).get(reverse("session_viewer", args=["acme", live.public_id])).status_code == 404
    assert api(bob).post(f"/api/v1/sessions/{live.public_id}/end").status_code == 404


def test_an_admin_may_transfer_another_agents_session(live, carol, dave):
    response = api(carol).post(
        f"/api/v1/sessions/{live.public_id}/transfer", {"agent_id": dave.public_id}, format="json"
    )
    assert response.status_code == 200 and response.json()["agent"]["id"] == dave.public_id


def test_another_agent_cannot_transfer_a_session_that_is_not_theirs(live, acme, alice, dave, bob):
    url = f"/api/v1/sessions/{live.public_id}/transfer"
    assert error_code(api(dave).post(url, {"agent_id": dave.public_id}, format="json")) == "not_found"
    org_services.organization_update_settings(organization=acme, actor=alice, agents_see_all_sessions=True)
    response = api(dave).post(url, {"agent_id": dave.public_id}, format="json")
    assert response.status_code == 403 and error_code(response) == "session_not_yours"
    live.refresh_from_db()
    assert live.agent == bob


def test_transfer_refuses_bad_targets_and_changes_nothing(live, bob, gina, mona, ended, dave):
    client = api(bob)
    url = f"/api/v1/sessions/{live.public_id}/transfer"
    other_org = client.post(url, {"agent_id": gina.public_id}, format="json")
    assert (
        other_org.status_code == 404 and other_org.json()["error"]["message"] == "No such agent in this organization."
    )
    not_an_agent = client.post(url, {"agent_id": mona.public_id}, format="json")
    assert not_an_agent.status_code == 400 and error_code(not_an_agent) == "not_an_agent"
    assert client.post(url, {"agent_id": bob.public_id}, format="json").status_code == 400
    assert client.post(url, {}, format="json").status_code == 400
    done = client.post(f"/api/v1/sessions/{ended.public_id}/transfer", {"agent_id": dave.public_id}, format="json")
    assert done.status_code == 409
    live.refresh_from_db()
    assert live.agent == bob
    assert not SessionEvent.objects.for_org(live.organization).filter(type="transferred").exists()


def test_another_organization_cannot_reach_any_workflow_endpoint(live, gina):
    client = api(gina)
    base = f"/api/v1/sessions/{live.public_id}"
    assert client.post(f"{base}/transfer", {"agent_id": gina.public_id}, format="json").status_code == 404
    assert client.get(f"{base}/notes", HTTP_X_ORGANIZATION="globex").status_code == 404
    assert client.post(f"{base}/notes", {"text": "hi"}, format="json").status_code == 404
    assert client.patch(base, {"ticket_ref": "X-1"}, format="json").status_code == 404
    assert client.post(f"{base}/invite-email", {"email": "a@b.test"}, format="json").status_code == 404
    assert not SessionNote.objects.for_org(live.organization).exists()


def test_transfer_is_a_webhook_with_from_and_to(acme, live, bob, dave, receiver, django_capture_on_commit_callbacks):
    endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url, event_types=["session.transferred"])
    with django_capture_on_commit_callbacks(execute=True):
        api(bob).post(f"/api/v1/sessions/{live.public_id}/transfer", {"agent_id": dave.public_id}, format="json")
    (payload,) = [verify(endpoint, request) for request in receiver.requests]
    assert payload["type"] == "session.transferred"
    data = payload["data"]
    assert data["from_agent_id"] == bob.public_id and data["to_agent_id"] == dave.public_id
    assert data["to_agent_name"] == dave.get_full_name() and data["agent_id"] == dave.public_id
    assert data["status"] == "active" and data["actor"]["id"] == bob.public_id


# --- Tags, ticket reference, notes ---------------------------------------------------------------------------


def test_tags_and_ticket_reference_over_the_api(ended, bob, acme):
    client = api(bob)
    response = client.patch(
        f"/api/v1/sessions/{ended.public_id}",
        {"tags": ["printer", " Billing ", "printer"], "ticket_ref": "SUP-1234"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["printer", "Billing"] and response.json()["ticket_ref"] == "SUP-1234"
    detail = client.get(f"/api/v1/sessions/{ended.public_id}").json()
    assert detail["tags"] == ["printer", "Billing"] and detail["ticket_ref"] == "SUP-1234"
    listed = client.get("/api/v1/sessions").json()["results"][0]
    assert listed["ticket_ref"] == "SUP-1234" and listed["notes_count"] == 0
    assert AuditEntry.objects.for_org(acme).filter(action="session.details_changed").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"tags": ["x" * 33]},
        {"tags": [f"t{n}" for n in range(11)]},
        {"tags": ["<script>"]},
        {"tags": "printer"},
        {"ticket_ref": "has space"},
        {"ticket_ref": "A" * 65},
        {"ticket_ref": "SUP-1", "tags": ["ok", "bad!"]},
        {"colour": "red"},
    ],
)
def test_bad_tags_or_ticket_are_refused_and_change_nothing(live, bob, body):
    response = api(bob).patch(f"/api/v1/sessions/{live.public_id}", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"]
    live.refresh_from_db()
    assert live.tags == [] and live.ticket_ref == ""


def test_notes_list_with_author_and_time(ended, bob, dave, acme, alice):
    client = api(bob)
    url = f"/api/v1/sessions/{ended.public_id}/notes"
    created = client.post(url, {"text": "  Printer driver reinstalled.  "}, format="json")
    assert created.status_code == 201
    assert created.json()["text"] == "Printer driver reinstalled."
    assert created.json()["author"] == {"id": bob.public_id, "name": bob.get_full_name()}
    notes = client.get(url).json()
    assert [n["text"] for n in notes] == ["Printer driver reinstalled."] and notes[0]["created_at"]
    assert client.get(f"/api/v1/sessions/{ended.public_id}").json()["notes_count"] == 1
    assert client.post(url, {"text": "   "}, format="json").status_code == 400
    assert client.post(url, {"text": "x" * 4001}, format="json").status_code == 400
    # Another agent of the organization: 404 without agents_see_all_sessions; may read but not write with it.
    assert api(dave).get(url).status_code == 404
    org_services.organization_update_settings(organization=acme, actor=alice, agents_see_all_sessions=True)
    assert api(dave).get(url).status_code == 200
    refused = api(dave).post(url, {"text": "mine"}, format="json")
    assert refused.status_code == 403 and error_code(refused) == "session_not_yours"
    assert SessionNote.objects.for_org(acme).count() == 1
    entry = AuditEntry.objects.for_org(acme).get(action="session.note_added")
    assert "Printer" not in str(entry.data)  # the note's words are not in the audit chain


def test_session_list_counts_notes_in_constant_queries(acme, bob, django_assert_max_num_queries):
    for _n in range(3):
        session = SupportSessionFactory(organization=acme, agent=bob)
        workflow.session_note_add(session=session, actor=Actor(kind="agent", user=bob), text="a note")
    client = api(bob)
    client.get("/api/v1/sessions")  # warm up the session and membership lookups
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/sessions").json()
    assert [s["notes_count"] for s in body["results"]] == [1, 1, 1]


def test_webhook_payloads_carry_the_workflow(acme, ended, bob, receiver, django_capture_on_commit_callbacks):
    endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        api(bob).patch(f"/api/v1/sessions/{ended.public_id}", {"ticket_ref": "SUP-9", "tags": ["vpn"]}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api(bob).post(f"/api/v1/sessions/{ended.public_id}/notes", {"text": "called back"}, format="json")
    payloads = [verify(endpoint, request) for request in receiver.requests]
    assert [p["type"] for p in payloads] == ["session.updated", "session.updated"]
    first, second = (p["data"] for p in payloads)
    assert first["changed"] == ["tags", "ticket_ref"] and first["ticket_ref"] == "SUP-9" and first["tags"] == ["vpn"]
    assert second["changed"] == ["notes"] and second["notes_count"] == 1
    assert "called back" not in str(second)  # notes stay private: the payload counts them
    assert second["rating"] is None and second["id"] == ended.public_id and second["status"] == "ended"


# --- The customer's rating ---------------------------------------------------------------------------------------


def customer_client(session) -> APIClient:
    from django.test import Client

    client = Client()
    store = client.session
    store[CUSTOMER_SESSIONS_KEY] = {session.public_id: session.customer_token}
    store.save()
    return client


def test_customer_rates_the_ended_session_once(acme, ended, receiver, django_capture_on_commit_callbacks, bob):
    endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url, event_types=["session.rated"])
    client = customer_client(ended)
    url = reverse("customer_rate", args=[ended.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"rating": "4", "comment": "Quick and kind."})
    assert response.status_code == 302
    page = client.get(reverse("customer_session", args=[ended.public_id]))
    assert "you rated this session 4 of 5" in page.content.decode()
    ended.refresh_from_db()
    assert ended.rating == 4 and ended.rating_comment == "Quick and kind." and ended.rated_at
    again = client.post(url, {"rating": "1", "comment": "changed my mind"}, follow=True)
    assert "already rated" in again.content.decode()
    ended.refresh_from_db()
    assert ended.rating == 4
    (payload,) = [verify(endpoint, request) for request in receiver.requests]
    assert payload["type"] == "session.rated" and payload["data"]["rating"] == 4
    assert payload["data"]["rating_comment"] == "Quick and kind." and payload["data"]["actor"]["kind"] == "customer"
    detail = api(bob).get(f"/api/v1/sessions/{ended.public_id}").json()
    assert detail["rating"] == 4 and detail["rating_comment"] == "Quick and kind."
    viewer = api(bob).get(reverse("session_viewer", args=["acme", ended.public_id])).content.decode()
    assert "4 of 5" in viewer and "Quick and kind." in viewer


@pytest.mark.parametrize("rating", ["0", "6", "", "four", "4.5"])
def test_bad_ratings_are_refused(ended, rating):
    client = customer_client(ended)
    response = client.post(reverse("customer_rate", args=[ended.public_id]), {"rating": rating}, follow=True)
    assert "Choose a rating from 1 to 5." in response.content.decode()
    ended.refresh_from_db()
    assert ended.rating is None


def test_rating_needs_the_customers_own_token_and_an_ended_session(ended, live, acme, bob):
    from django.test import Client

    stranger = Client()
    assert stranger.post(reverse("customer_rate", args=[ended.public_id]), {"rating": "5"}).status_code == 404
    agent = api(bob)  # signed in, but holds no customer token for it
    assert agent.post(reverse("customer_rate", args=[ended.public_id]), {"rating": "5"}).status_code == 404
    early = customer_client(live).post(reverse("customer_rate", args=[live.public_id]), {"rating": "5"}, follow=True)
    assert "once it has ended" in early.content.decode()
    ended.refresh_from_db()
    live.refresh_from_db()
    assert ended.rating is None and live.rating is None


# --- The invitation by e-mail ----------------------------------------------------------------------------------


def test_invitation_by_email_while_waiting(acme, bob, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "http://support.example.test:9000"
    session = SupportSessionFactory(organization=acme, agent=bob)
    client = api(bob)
    url = f"/api/v1/sessions/{session.public_id}/invite-email"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "carl@example.test"}, format="json")
    assert response.status_code == 200 and response.json()["customer_email"] == "carl@example.test"
    (message,) = mail.outbox
    assert message.to == ["carl@example.test"]
    assert f"http://support.example.test:9000/join/{session.code}" in message.body
    assert AuditEntry.objects.for_org(acme).filter(action="session.invitation_emailed").exists()
    bad = client.post(url, {"email": "not an address"}, format="json")
    assert bad.status_code == 400 and error_code(bad) == "validation_error"
    for _n in range(2):
        assert client.post(url, {"email": "carl@example.test"}, format="json").status_code == 200
    limited = client.post(url, {"email": "carl@example.test"}, format="json")
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"


def test_invitation_by_email_is_refused_once_the_code_is_spent(live, bob):
    response = api(bob).post(
        f"/api/v1/sessions/{live.public_id}/invite-email", {"email": "c@example.test"}, format="json"
    )
    assert response.status_code == 409
    assert not mail.outbox


# --- The viewer's panel --------------------------------------------------------------------------------------


def test_viewer_panel_forms(acme, bob, dave, live, django_capture_on_commit_callbacks):
    client = api(bob)
    viewer = reverse("session_viewer", args=["acme", live.public_id])
    page = client.get(viewer).content.decode()
    assert 'id="workflow"' in page and dave.get_full_name() in page  # a transfer target
    client.post(reverse("session_details", args=["acme", live.public_id]), {"ticket_ref": "SUP-7", "tags": "a, b"})
    client.post(reverse("session_note_add", args=["acme", live.public_id]), {"text": "Checked the cable."})
    page = client.get(viewer).content.decode()
    assert 'value="SUP-7"' in page and "Checked the cable." in page and 'class="tag">b<' in page
    bad = client.post(
        reverse("session_details", args=["acme", live.public_id]), {"ticket_ref": "no spaces"}, follow=True
    )
    assert "A ticket reference has up to 64 characters" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        moved = client.post(reverse("session_transfer", args=["acme", live.public_id]), {"agent_id": dave.public_id})
    assert moved.status_code == 302 and moved["Location"] == reverse("session_dashboard", args=["acme"])
    live.refresh_from_db()
    assert live.agent == dave


def test_customer_page_never_shows_notes_tags_or_ticket(ended, bob):
    workflow.session_note_add(session=ended, actor=Actor(kind="agent", user=bob), text="Secret remark")
    workflow.session_details_update(session=ended, actor=Actor(kind="agent", user=bob), tags=["vip"], ticket_ref="T-1")
    page = customer_client(ended).get(reverse("customer_session", args=[ended.public_id])).content.decode()
    assert "Secret remark" not in page and "vip" not in page and "T-1" not in page
    assert 'id="rating-form"' in page
    assert SupportSession.objects.for_org(ended.organization).get(pk=ended.pk).tags == ["vip"]
