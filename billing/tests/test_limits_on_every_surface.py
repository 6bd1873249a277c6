"""Each entitlement at its limit and one past it, through the API and the page; the 402 names the limit and the
current figure, and the refused request changes nothing. (Meetings, recordings and unattended machines arrive with
their apps; their checks are tested there.)"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing import services
from billing.models import License, Plan
from integrations.models import APIKey, WebhookEndpoint
from orgs.models import Invitation
from sessions.models import SupportSession

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def refusal(response, limit: str) -> dict:
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert error["code"] == "plan_limit" and error["details"]["limit"] == limit
    assert error["details"]["upgrade_url"] == "/o/acme/billing/"
    return error["details"]


def on_plan(org, code: str, **change) -> None:
    services.license_change(
        organization=org, plan=Plan.objects.get(code=code), status=License.Status.ACTIVE, keep_members=True, **change
    )


def test_seats_through_the_api_at_and_past_the_limit(acme, alice, bob):
    services.license_change(organization=acme, seats=3)  # alice and bob: one free
    client = api(alice)
    at = client.post("/api/v1/invitations", {"email": "c@acme.test", "role": "agent"}, format="json")
    assert at.status_code == 201, at.content
    past = client.post("/api/v1/invitations", {"email": "d@acme.test", "role": "admin"}, format="json")
    details = refusal(past, "seats")
    assert (details["allowed"], details["current"]) == (3, 3)
    assert not Invitation.objects.for_org(acme).filter(email="d@acme.test").exists()
    member = client.post("/api/v1/invitations", {"email": "m@acme.test", "role": "member"}, format="json")
    assert member.status_code == 201  # members take no seat


def test_live_sessions_through_the_api_and_the_page(client, acme, alice, bob):
    services.license_change(organization=acme, seats=2, overrides={"sessions_per_seat": 1})  # two live at once
    rest = api(alice)
    assert rest.post("/api/v1/sessions", {}, format="json").status_code == 201
    assert rest.post("/api/v1/sessions", {}, format="json").status_code == 201  # the second: at the limit
    details = refusal(rest.post("/api/v1/sessions", {}, format="json"), "concurrent_sessions")
    assert (details["allowed"], details["current"]) == (2, 2)
    client.force_login(bob)
    page = client.post(reverse("session_dashboard", args=["acme"]), {"customer_name": "Carl"})
    assert page.status_code == 402
    assert "2 sessions are live, the most your plan allows at once (2)" in page.content.decode()
    assert SupportSession.objects.for_org(acme).count() == 2
    # Ending one frees its place.
    first = SupportSession.objects.for_org(acme).first()
    assert rest.post(f"/api/v1/sessions/{first.public_id}/end", {}, format="json").status_code == 200
    assert client.post(reverse("session_dashboard", args=["acme"]), {"customer_name": "Carl"}).status_code == 302


def test_api_keys_need_the_api_feature_on_the_api_and_the_page(client, acme, alice):
    on_plan(acme, "free")
    rest = api(alice)
    details = refusal(
        rest.post("/api/v1/api-keys", {"name": "crm", "scopes": ["sessions:read"]}, format="json"), "feature:api"
    )
    assert details["current"] is False
    client.force_login(alice)
    page = client.post(reverse("org_api_keys", args=["acme"]), {"name": "crm", "scopes": ["sessions:read"]})
    assert page.status_code == 402 and "API keys and OAuth apps is not part of the Free plan." in page.content.decode()
    assert not APIKey.objects.for_org(acme).exists()
    on_plan(acme, "pro")
    assert rest.post("/api/v1/api-keys", {"name": "crm", "scopes": ["sessions:read"]}, format="json").status_code == 201


def test_webhooks_need_the_feature(acme, alice):
    on_plan(acme, "free")
    rest = api(alice)
    body = {"url": "https://hooks.example.com/in", "event_types": ["session.ended"]}
    refusal(rest.post("/api/v1/webhooks", body, format="json"), "feature:webhooks")
    assert not WebhookEndpoint.objects.for_org(acme).exists()


def test_audit_export_needs_the_feature_and_stays_open_when_read_only(client, acme, alice):
    on_plan(acme, "pro")  # no audit export
    rest = api(alice)
    refusal(rest.get("/api/v1/audit/export.csv"), "feature:audit_export")
    client.force_login(alice)
    page = client.get(reverse("audit_export_csv", args=["acme"]), follow=True)
    assert "Audit log export is not part of the Pro plan." in page.content.decode()
    on_plan(acme, "business")
    services.license_change(organization=acme, status=License.Status.READ_ONLY)
    exported = rest.get("/api/v1/audit/export.csv")
    assert exported.status_code == 200
    assert "license.changed" in b"".join(exported.streaming_content).decode()


def test_read_only_refuses_new_things_everywhere_but_keeps_reading(client, acme, alice, bob):
    rest = api(alice)
    started = rest.post("/api/v1/sessions", {"customer_name": "Kept"}, format="json").json()
    services.license_change(organization=acme, status=License.Status.READ_ONLY)
    refusal(rest.post("/api/v1/sessions", {}, format="json"), "status")
    refusal(rest.post("/api/v1/invitations", {"email": "x@acme.test", "role": "member"}, format="json"), "status")
    assert rest.get(f"/api/v1/sessions/{started['id']}").json()["customer_name"] == "Kept"
    assert rest.get("/api/v1/audit").status_code == 200
    client.force_login(alice)
    assert client.get(reverse("session_dashboard", args=["acme"])).status_code == 200


def test_a_business_organization_moved_to_free_keeps_everything(client, acme, alice, bob, carol):
    """Downgrading never deletes: every member, session, key, endpoint and audit entry reads back afterwards."""
    rest = api(alice)
    sessions = [rest.post("/api/v1/sessions", {"customer_name": f"C{i}"}, format="json").json() for i in range(3)]
    rest.post(f"/api/v1/sessions/{sessions[0]['id']}/end", {}, format="json")
    key = rest.post("/api/v1/api-keys", {"name": "crm", "scopes": ["sessions:read"]}, format="json").json()
    hook = rest.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/in", "event_types": ["session.ended"]}, format="json"
    ).json()
    rest.post("/api/v1/invitations", {"email": "dave@acme.test", "role": "agent"}, format="json")
    audit_before = AuditEntry.objects.for_org(acme).count()

    on_plan(acme, "free")  # one seat, no API, no webhooks; three people hold seats

    assert {m["email"] for m in rest.get("/api/v1/members").json()["results"]} >= {
        "alice@acme.test",
        "bob@acme.test",
        "carol@acme.test",
    }
    assert {s["id"] for s in rest.get("/api/v1/sessions").json()["results"]} == {s["id"] for s in sessions}
    assert rest.get(f"/api/v1/api-keys/{key['id']}").status_code == 200
    assert rest.get(f"/api/v1/webhooks/{hook['id']}").status_code == 200
    assert rest.get("/api/v1/invitations").json()["count"] == 1
    assert AuditEntry.objects.for_org(acme).count() > audit_before  # the change itself was added, nothing removed
    assert rest.get("/api/v1/audit/verify").json()["ok"] is True
    # What it stops: new seats and new integrations, in words.
    refusal(rest.post("/api/v1/invitations", {"email": "e@acme.test", "role": "agent"}, format="json"), "seats")
    client.force_login(alice)
    assert "3 / 1" in client.get(reverse("org_billing", args=["acme"])).content.decode()
