"""The organization's recording policy (off, optional, mandatory): refused when off, set by admins on the settings
page (audited), told to the customer before consenting, and the viewer's recording controls follow it."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from orgs.models import Organization, Role
from orgs.tests.factories import MembershipFactory
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(acme, bob):
    return SupportSessionFactory(organization=acme, agent=bob, active=True)


def set_policy(organization: Organization, policy: str) -> None:
    organization.recording_policy = policy
    organization.save(update_fields=["recording_policy"])


def test_with_the_policy_off_a_recording_cannot_start(agent_client, session, acme, local_storage):
    set_policy(acme, "off")
    response = agent_client.post(f"/api/v1/sessions/{session.public_id}/recordings")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "recording_disabled"
    assert not session.recordings.exists()


def test_an_admin_sets_the_policy_on_the_settings_page_and_it_is_audited(alice, acme):
    client = Client()
    client.force_login(alice)
    page = client.get("/o/acme/settings/")
    assert "Recording of support sessions" in page.content.decode()
    response = client.post("/o/acme/settings/", {"section": "recording", "recording_policy": "mandatory"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.recording_policy == "mandatory"
    entry = AuditEntry.objects.for_org(acme).filter(action="organization.settings_changed").latest("id")
    assert entry.data["changes"] == {"recording_policy": ["optional", "mandatory"]}
    refused = client.post("/o/acme/settings/", {"section": "recording", "recording_policy": "sometimes"})
    assert refused.status_code == 400
    acme.refresh_from_db()
    assert acme.recording_policy == "mandatory"


def test_an_agent_cannot_change_the_policy(acme):
    agent = MembershipFactory(organization=acme, role=Role.AGENT).user
    client = Client()
    client.force_login(agent)
    response = client.post("/o/acme/settings/", {"section": "recording", "recording_policy": "off"})
    assert response.status_code in (403, 404)
    acme.refresh_from_db()
    assert acme.recording_policy == "optional"


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        ("off", None),
        ("optional", "may record this session"),
        ("mandatory", "records this session"),
    ],
)
def test_the_customer_is_told_before_consenting(acme, bob, policy, said):
    set_policy(acme, policy)
    from sessions import services as session_services

    session = SupportSessionFactory(organization=acme, agent=bob)
    client = Client()
    session_obj, token = session_services.session_join(code=session.code, name="Carl", actor=session_services.SYSTEM)
    client_session = client.session
    client_session["customer_sessions"] = {session_obj.public_id: token}
    client_session.save()
    page = client.get(f"/s/{session_obj.public_id}/").content.decode()
    assert ('class="recording-note"' in page) is (said is not None)
    if said is not None:
        assert said in page


@pytest.mark.parametrize(("policy", "button"), [("off", False), ("optional", True), ("mandatory", True)])
def test_the_viewer_offers_recording_by_policy(acme, bob, session, policy, button):
    set_policy(acme, policy)
    client = Client()
    client.force_login(bob)
    page = client.get(f"/o/acme/sessions/{session.public_id}/").content.decode()
    assert ('id="record"' in page) is button
    assert ('data-mandatory="1"' in page) is (policy == "mandatory")
