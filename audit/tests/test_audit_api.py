"""The audit log as its readers meet it: the API (list, filters, cursor pages, verify, exports), the page, the
admin, and retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.retention import retention_purge
from audit.services import audit_record
from integrations.credentials.services import api_key_create
from orgs.tenancy import org_context_for_user
from sessions.models import SessionEvent, SupportSession


@pytest.fixture
def log(acme, globex, alice, bob):
    """Five Acme entries (two by alice on bob, three by the system) and one of Globex."""
    audit_record(organization=acme, action="member.added", actor=alice, target=bob)
    audit_record(
        organization=acme, action="member.role_changed", actor=alice, target=bob, data={"role": ["agent", "admin"]}
    )
    audit_record(organization=acme, action="webhook.disabled", data={"reason": '=HYPERLINK("http://evil")'})
    audit_record(organization=acme, action="session.created")
    audit_record(organization=acme, action="session.ended")
    audit_record(organization=globex, action="member.added")


def client_for(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_owner_lists_the_log_newest_first(log, alice, bob):
    body = client_for(alice).get("/api/v1/audit").json()
    assert [e["seq"] for e in body["results"]] == [5, 4, 3, 2, 1]
    first = body["results"][-1]
    assert first["action"] == "member.added"
    assert first["actor"] == {"kind": "user", "id": alice.public_id, "label": f"{alice.name} <{alice.email}>"}
    assert first["target"] == {"type": "user", "id": bob.public_id, "label": f"{bob.name} <{bob.email}>"}
    assert len(first["hash"]) == 64 and first["prev_hash"] == "0" * 64


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=member.added", [1]),
        ("action=session.*", [5, 4]),
        ("action=nothing.here", []),
        ("until=2000-01-01", []),
        ("since=2000-01-01", [5, 4, 3, 2, 1]),
    ],
)
def test_filters(log, alice, query, expected):
    body = client_for(alice).get(f"/api/v1/audit?{query}").json()
    assert [e["seq"] for e in body["results"]] == expected


def test_filters_by_actor_and_target(log, alice, bob):
    client = client_for(alice)
    assert [e["seq"] for e in client.get(f"/api/v1/audit?actor={alice.public_id}").json()["results"]] == [2, 1]
    assert [
        e["seq"] for e in client.get(f"/api/v1/audit?target={bob.public_id}&action=member.*").json()["results"]
    ] == [2, 1]


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-45", "since=2026-01-01T25:00:00Z"])
def test_a_bad_date_is_a_400_naming_the_parameter(log, alice, query):
    response = client_for(alice).get(f"/api/v1/audit?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["details"]["field"] == query.split("=")[0]


def test_cursor_pages_cover_the_log_once(log, alice):
    client, seen, url = client_for(alice), [], "/api/v1/audit?limit=2"
    while url:
        body = client.get(url).json()
        seen += [e["seq"] for e in body["results"]]
        url = body["next"]
    assert seen == [5, 4, 3, 2, 1]


def test_agents_and_other_organizations_cannot_read_it(log, bob, gina):
    response = client_for(bob).get("/api/v1/audit")
    assert response.status_code == 403 and response.json()["error"]["code"] == "missing_scope"
    assert client_for(bob).get("/api/v1/audit/verify").status_code == 403
    assert client_for(bob).get("/api/v1/audit/export.csv").status_code == 403
    theirs = client_for(gina).get("/api/v1/audit").json()["results"]
    assert [e["action"] for e in theirs] == ["member.added"]
    assert client_for(gina).get("/api/v1/audit", HTTP_X_ORGANIZATION="acme").status_code == 404


def test_an_api_key_needs_the_audit_scope(log, acme, alice):
    ctx = org_context_for_user(alice, "acme")
    _, reader = api_key_create(org=ctx, name="SIEM", scopes=["audit:read"])
    _, other = api_key_create(org=ctx, name="CRM", scopes=["sessions:read"])
    client = APIClient()
    assert len(client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {reader}").json()["results"]) >= 5
    assert client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 403


def test_verify_answers_ok_or_the_broken_sequence_number(log, acme, alice):
    client = client_for(alice)
    assert client.get("/api/v1/audit/verify").json() == {"ok": True, "checked": 5, "last_seq": 5}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER audit_entry_no_update")
        cursor.execute(
            "UPDATE audit_auditentry SET action = 'member.nothing' WHERE seq = 3 AND organization_id = %s", [acme.pk]
        )
    body = client.get("/api/v1/audit/verify").json()
    assert (body["ok"], body["broken_seq"]) == (False, 3)


def _streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_csv_export_streams_the_filtered_log_safely(log, alice):
    response = client_for(alice).get("/api/v1/audit/export.csv?action=webhook.*")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Cache-Control"] == "no-store"
    assert 'attachment; filename="audit-acme-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_streamed(response))))
    assert [row["action"] for row in rows] == ["webhook.disabled"]
    # A cell a spreadsheet would run as a formula is defused.
    assert rows[0]["data"].startswith("'") or not rows[0]["data"].startswith("=")


def test_json_lines_export_holds_every_entry_with_its_hash(log, alice):
    response = client_for(alice).get("/api/v1/audit/export.jsonl")
    lines = [json.loads(line) for line in _streamed(response).splitlines()]
    assert [line["seq"] for line in lines] == [5, 4, 3, 2, 1]
    assert all(len(line["hash"]) == 64 for line in lines)
    assert lines[-1]["actor"]["id"] == alice.public_id


def test_the_page_shows_filters_pages_and_verifies(log, alice, bob, gina, acme):
    client = client_for(alice)
    page = client.get("/o/acme/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "member.role_changed" in html and bob.email in html and "Audit log" in html
    filtered = client.get("/o/acme/audit/?action=session.*").content.decode()
    assert "session.created" in filtered and "member.added" not in filtered.split("<tbody>")[1]
    bad = client.get("/o/acme/audit/?since=soon")
    assert bad.status_code == 400 and "must be a date" in bad.content.decode()
    verified = client.post("/o/acme/audit/verify", follow=True).content.decode()
    assert "The audit log is intact: 5 entries verified" in verified
    export = client.get("/o/acme/audit/export.jsonl?action=member.*")
    assert len(_streamed(export).splitlines()) == 2
    assert client_for(bob).get("/o/acme/audit/").status_code == 403
    assert client_for(gina).get("/o/acme/audit/").status_code == 404
    assert "Audit log" not in client_for(bob).get("/o/acme/").content.decode()


def test_the_page_pages_by_sequence_number(acme, alice):
    for i in range(55):
        audit_record(organization=acme, action="test.write", data={"i": i})
    client = client_for(alice)
    first = client.get("/o/acme/audit/").content.decode()
    assert "before=6" in first
    second = client.get("/o/acme/audit/?before=6").content.decode()
    assert second.count('class="num"') == 5


def test_admin_shows_the_log_read_only(log, acme):
    from orgs.tests.factories import UserFactory

    operator = UserFactory(email="ops@connect.test", is_staff=True, is_superuser=True)
    client = client_for(operator)
    assert client.get("/admin/audit/auditentry/").status_code == 200
    entry = AuditEntry.objects.for_org(acme).get(seq=1)
    assert client.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.for_org(acme).filter(pk=entry.pk).exists()


def test_retention_purges_old_logs_and_chat_once_and_records_it(acme, bob):
    from sessions.tests.factories import SupportSessionFactory

    session = SupportSessionFactory(organization=acme, agent=bob)
    old = timezone.now() - timedelta(days=40)
    for kind in ("chat", "chat", "created", "consent_granted"):
        SessionEvent.objects.create(session=session, type=kind, actor_kind="agent", data={})
    SessionEvent.objects.create(session=session, type="chat", actor_kind="agent", data={"text": "today"})
    SessionEvent.objects.for_org(acme).exclude(data={"text": "today"}).update(created_at=old)
    acme.chat_retention_days = 30
    acme.session_log_retention_days = 90
    acme.save()
    assert retention_purge(organization=acme) == {"chat_lines": 2, "meeting_chat_lines": 0, "session_events": 0}
    assert list(SessionEvent.objects.for_org(acme).filter(type="chat").values_list("data", flat=True)) == [
        {"text": "today"}
    ]
    entry = AuditEntry.objects.for_org(acme).get(action="retention.purged")
    assert entry.data["chat_lines"] == 2
    assert retention_purge(organization=acme) == {"chat_lines": 0, "meeting_chat_lines": 0, "session_events": 0}
    assert AuditEntry.objects.for_org(acme).filter(action="retention.purged").count() == 1
    assert SupportSession.objects.for_org(acme).filter(pk=session.pk).exists()


def test_owners_set_retention_on_the_settings_page(acme, alice, bob):
    client = client_for(alice)
    page = client.get("/o/acme/settings/").content.decode()
    assert "Data retention" in page and 'name="chat_retention_days"' in page
    form = {
        "section": "retention",
        "session_log_retention_days": "",
        "chat_retention_days": "30",
        "audit_retention_days": "400",
    }
    response = client.post("/o/acme/settings/", form, follow=True)
    assert "Retention saved" in response.content.decode()
    acme.refresh_from_db()
    assert (acme.session_log_retention_days, acme.chat_retention_days, acme.audit_retention_days) == (None, 30, 400)
    entry = AuditEntry.objects.for_org(acme).get(action="organization.settings_changed")
    assert entry.data["changes"] == {"chat_retention_days": [None, 30], "audit_retention_days": [None, 400]}
    for bad in ("0", "99999", "soon"):
        refused = client.post("/o/acme/settings/", {**form, "chat_retention_days": bad})
        assert refused.status_code == 400
        assert 'role="alert"' in refused.content.decode()
    acme.refresh_from_db()
    assert acme.chat_retention_days == 30
    assert client_for(bob).post("/o/acme/settings/", form).status_code == 403
