"""Chat as part of the session record (sessions.chat): kept with names and times, listed over the API, shown in the
viewer and the customer page again after a reload and after the end, exported as a transcript, e-mailed to the
customer at the agent's choice; organization retention and a person's erasure apply.

bob (agent) runs the sessions; dana is another agent of Acme; gina owns Globex."""

from __future__ import annotations

import importlib
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.retention import retention_purge
from audit.services import ERASED_LABEL
from connect.errors import ApplicationError
from orgs import privacy
from orgs.models import Membership, Role
from orgs.tests.factories import UserFactory
from sessions import chat, services
from sessions.models import ChatMessage, SessionEvent, Status
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(acme):
    user = UserFactory(email="dana@acme.test", name="Dana Other")
    Membership.objects.create(organization=acme, user=user, role=Role.AGENT)
    return user


@pytest.fixture
def session(acme, bob):
    bob.name = "Bob Builder"
    bob.save()
    return SupportSessionFactory(organization=acme, agent=bob, active=True, customer_name="Carl Customer")


def agent_says(session, text):
    return chat.chat_post(session=session, actor=services.Actor(kind="agent", user=session.agent), text=text)


def customer_says(session, text):
    return chat.chat_post(session=session, actor=services.Actor(kind="customer"), text=text)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def end(session):
    return services.session_end(session=session, actor=services.Actor(kind="agent", user=session.agent))


# --- The service -----------------------------------------------------------------------------------------------


def test_lines_are_kept_with_the_senders_names_and_times_and_not_in_the_session_log(session, acme):
    before = timezone.now()
    mine = agent_says(session, "  Hello, can you see the printer settings?  ")
    theirs = customer_says(session, "Yes")
    assert (mine.sender_name, mine.text, mine.sender_kind) == (
        "Bob Builder",
        "Hello, can you see the printer settings?",
        "agent",
    )
    assert (theirs.sender_name, theirs.sender_kind, theirs.sender) == ("Carl Customer", "customer", None)
    assert mine.public_id.startswith("msg_") and before <= mine.created_at <= theirs.created_at
    assert not SessionEvent.objects.for_org(acme).filter(type="chat").exists()  # no per-line noise in the log
    assert not AuditEntry.objects.for_org(acme).filter(action__contains="chat").exists()  # never in the audit chain


def test_an_unnamed_customer_is_called_customer(acme, bob):
    session = SupportSessionFactory(organization=acme, agent=bob, active=True, customer_name="")
    assert customer_says(session, "hi").sender_name == "Customer"


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001, "a\x00b", 42])
def test_bad_lines_get_a_clear_error_and_change_nothing(session, text):
    with pytest.raises(ApplicationError) as refused:
        customer_says(session, text)
    assert refused.value.code == "invalid_chat_line" and refused.value.message
    assert not ChatMessage.objects.for_org(session.organization).exists()


def test_exactly_two_thousand_characters_are_kept_whole(session):
    assert len(customer_says(session, "y" * 2000).text) == 2000


def test_chat_flows_only_while_the_session_is_active(acme, bob, session):
    waiting = SupportSessionFactory(organization=acme, agent=bob)
    end(session)
    for closed in (waiting, session):
        with pytest.raises(ApplicationError) as refused:
            agent_says(closed, "anyone?")
        assert refused.value.code == "invalid_session_state"
    assert not ChatMessage.objects.for_org(acme).exists()


# --- The API ---------------------------------------------------------------------------------------------------


def test_the_api_lists_every_line_with_names_and_times(session, bob):
    agent_says(session, "Hello")
    customer_says(session, "Hi there")
    response = client_for(bob).get(f"/api/v1/sessions/{session.public_id}/chat")
    assert response.status_code == 200
    body = response.json()
    assert [(m["sender_kind"], m["sender_name"], m["text"]) for m in body] == [
        ("agent", "Bob Builder", "Hello"),
        ("customer", "Carl Customer", "Hi there"),
    ]
    assert body[0]["sender_id"] == bob.public_id and body[1]["sender_id"] is None
    assert body[0]["id"].startswith("msg_") and body[0]["created_at"]


def test_the_list_costs_the_same_whatever_its_length(session, bob):
    client = client_for(bob)
    counts = []
    for _ in range(2):
        for i in range(5):
            agent_says(session, f"line {i}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/sessions/{session.public_id}/chat").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("path", ["chat", "chat/transcript.txt", "chat/transcript.json"])
def test_another_organization_and_another_agent_get_404(path, session, gina, dana):
    customer_says(session, "my password is hunter2")
    for outsider in (gina, dana):
        response = client_for(outsider).get(f"/api/v1/sessions/{session.public_id}/{path}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert "hunter2" not in response.content.decode()


def test_another_agent_reads_the_chat_when_the_organization_shows_every_session(session, dana, acme):
    acme.agents_see_all_sessions = True
    acme.save()
    customer_says(session, "visible to the team")
    response = client_for(dana).get(f"/api/v1/sessions/{session.public_id}/chat")
    assert response.status_code == 200 and response.json()[0]["text"] == "visible to the team"


def test_the_transcript_holds_every_message_as_text_and_json(session, bob):
    texts = ["Hello", "Can you open Settings?\nThen Printers.", "Done", "x" * 2000]
    for i, text in enumerate(texts):
        (agent_says if i % 2 == 0 else customer_says)(session, text)
    end(session)
    client = client_for(bob)

    text = client.get(f"/api/v1/sessions/{session.public_id}/chat/transcript.txt")
    assert text.status_code == 200 and text["Content-Type"].startswith("text/plain")
    assert f'filename="chat-{session.public_id}.txt"' in text["Content-Disposition"]
    body = text.content.decode()
    assert "Agent: Bob Builder" in body and "Customer: Carl Customer" in body and "Ended: " in body
    assert "] Bob Builder: Hello\n" in body and "] Carl Customer: Can you open Settings?\n    Then Printers.\n" in body
    assert "] Bob Builder: Done\n" in body and "x" * 2000 in body
    assert body.count("UTC] ") == 4

    document = client.get(f"/api/v1/sessions/{session.public_id}/chat/transcript.json")
    assert document.status_code == 200 and document["Content-Type"].startswith("application/json")
    data = json.loads(document.content)
    assert data["format"] == "bizgaze-connect-chat/1" and data["session"]["id"] == session.public_id
    assert [m["text"] for m in data["messages"]] == texts
    assert [m["sender_name"] for m in data["messages"]] == ["Bob Builder", "Carl Customer"] * 2


def test_the_openapi_document_describes_the_chat_endpoints(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    if schema.status_code == 404:
        schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    for path in ("/chat", "/chat/transcript.txt", "/chat/transcript.json"):
        assert f"/api/v1/sessions/{{session_id}}{path}" in text


# --- Pages -----------------------------------------------------------------------------------------------------


def test_the_viewer_shows_the_history_after_a_reload_and_after_the_end(session, bob, client):
    agent_says(session, "First from the agent")
    customer_says(session, "averyveryverylongwordwithoutspaces" * 5)
    client.force_login(bob)
    viewer = reverse("session_viewer", args=["acme", session.public_id])
    for _ in range(2):
        html = client.get(viewer).content.decode()
        assert "First from the agent" in html and "averyveryverylongword" in html
        assert html.count('class="chat-name"') == 2 and "Bob Builder" in html and "Carl Customer" in html
        assert html.count("<time datetime=") >= 2
        end(session)
    assert 'id="chat-form"' not in html and "The chat is closed" in html  # read-only once ended
    assert 'name="email"' in html and "transcript.txt" in html and "transcript.json" in html


def test_the_customer_page_shows_the_history_after_a_reload(session, client):
    agent_says(session, "Hello Carl")
    customer_says(session, "Hello Bob")
    browser = client.session
    browser["customer_sessions"] = {session.public_id: session.customer_token}
    browser.save()
    html = client.get(reverse("customer_session", args=[session.public_id])).content.decode()
    assert "Hello Carl" in html and "Hello Bob" in html
    assert 'data-self="customer"' in html and html.count('class="chat-line mine"') == 1


def test_the_page_transcript_download_follows_the_session_rule(session, bob, dana, gina, client):
    customer_says(session, "every word")
    client.force_login(bob)
    url = reverse("session_chat_transcript_txt", args=["acme", session.public_id])
    assert "every word" in client.get(url).content.decode()
    assert client.get(url.replace(".txt", ".exe")).status_code == 404
    client.force_login(dana)
    assert client.get(url).status_code == 404
    client.force_login(gina)
    assert client.get(reverse("session_chat_transcript_txt", args=["globex", session.public_id])).status_code == 404


def test_after_the_end_the_agent_emails_the_transcript_to_the_customer(
    session, bob, client, acme, django_capture_on_commit_callbacks
):
    agent_says(session, "Your printer works now")
    customer_says(session, "Thanks!")
    url = reverse("session_chat_email", args=["acme", session.public_id])
    client.force_login(bob)

    live = client.post(url, {"email": "carl@example.com"}, follow=True)
    assert "once the session has ended" in live.content.decode() and mail.outbox == []

    end(session)
    bad = client.post(url, {"email": "not an address"}, follow=True)
    assert "Enter the customer" in bad.content.decode() and mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves once the audit entry commits
        with_commit = client.post(url, {"email": "carl@example.com"}, follow=True)
    assert "was e-mailed to carl@example.com" in with_commit.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carl@example.com"]
    assert "Your printer works now" in mail.outbox[0].body and "Thanks!" in mail.outbox[0].body
    entry = AuditEntry.objects.for_org(acme).get(action="session.chat_transcript_sent")
    assert entry.data == {"to": "carl@example.com", "lines": 2}


def test_the_email_field_is_prefilled_with_the_customers_address(acme, bob, client):
    session = SupportSessionFactory(organization=acme, agent=bob, active=True, customer_email="carl@example.com")
    end(session)
    client.force_login(bob)
    html = client.get(reverse("session_viewer", args=["acme", session.public_id])).content.decode()
    assert 'value="carl@example.com"' in html


def test_another_agent_or_organization_cannot_email_the_transcript(session, dana, gina, client, acme):
    customer_says(session, "private")
    end(session)
    acme.agents_see_all_sessions = True  # may see it; still not theirs to act on
    acme.save()
    client.force_login(dana)
    assert (
        client.post(reverse("session_chat_email", args=["acme", session.public_id]), {"email": "x@y.test"}).status_code
        == 403
    )
    client.force_login(gina)
    response = client.post(reverse("session_chat_email", args=["globex", session.public_id]), {"email": "x@y.test"})
    assert response.status_code == 404
    assert mail.outbox == [] and not AuditEntry.objects.for_org(acme).filter(action="session.chat_transcript_sent")


# --- Retention, erasure, the move from the session log ---------------------------------------------------------


def test_retention_purges_chat_lines_older_than_the_organization_keeps_them(session, acme):
    old = agent_says(session, "old line")
    customer_says(session, "new line")
    ChatMessage.objects.for_org(acme).filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    acme.chat_retention_days = 30
    acme.save()
    assert retention_purge(organization=acme)["chat_lines"] == 1
    assert [m.text for m in chat.chat_lines(session)] == ["new line"]
    assert AuditEntry.objects.for_org(acme).get(action="retention.purged").data["chat_lines"] == 1
    assert retention_purge(organization=acme)["chat_lines"] == 0


def test_an_erased_agents_lines_stay_under_the_erased_label(session, bob, acme):
    agent_says(session, "I will fix it")
    customer_says(session, "ok")
    assert privacy.user_export(user=bob)["chat_lines"][0]["text"] == "I will fix it"
    privacy.user_erase(user=bob, actor=None)
    lines = list(chat.chat_lines(session))
    assert [(m.sender_name, m.text) for m in lines] == [(ERASED_LABEL, "I will fix it"), ("Carl Customer", "ok")]
    assert lines[0].sender is None
    assert "Bob Builder" not in chat.transcript_text(session).split("\n\n", 1)[1]


def test_chat_lines_in_the_session_log_move_to_the_chat(acme, bob, session):
    earlier = timezone.now() - timedelta(hours=2)
    SessionEvent.objects.create(session=session, type="chat", actor_kind="agent", actor=bob, data={"text": "old hi"})
    SessionEvent.objects.create(session=session, type="chat", actor_kind="customer", data={"text": "old hello"})
    SessionEvent.objects.create(session=session, type="chat", actor_kind="customer", data={})  # before text was kept
    SessionEvent.objects.for_org(acme).filter(type="chat").update(created_at=earlier)
    migration = importlib.import_module("sessions.migrations.0007_chat_lines_moved")
    state = MigrationLoader(connection).project_state(("support", "0007_chat_lines_moved"))
    migration.move_chat_lines(state.apps, None)
    lines = list(chat.chat_lines(session))
    assert [(m.sender_kind, m.sender_name, m.text) for m in lines] == [
        ("agent", "Bob Builder", "old hi"),
        ("customer", "Carl Customer", "old hello"),
    ]
    assert all(m.created_at == earlier and m.public_id.startswith("msg_") for m in lines)
    assert list(SessionEvent.objects.for_org(acme).filter(type="chat").values_list("data", flat=True)) == [{}]


def test_status_final_sessions_keep_their_chat(session):
    customer_says(session, "still here after the end")
    end(session)
    session.refresh_from_db()
    assert session.status == Status.ENDED and chat.chat_lines(session).count() == 1
