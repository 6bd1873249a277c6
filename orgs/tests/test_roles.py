"""Who may hand out sessions and who may touch admins, from the attacker's side: an agent naming a colleague as
the one who asks the customer, a session given to a member who cannot take sessions, an admin removing or
demoting another admin. The legitimate paths beside them still work."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from orgs.models import Membership, Role
from orgs.tests.factories import MembershipFactory
from sessions.models import SupportSession

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def dave(acme):
    """A second admin of Acme."""
    return MembershipFactory(organization=acme, role=Role.ADMIN, user__email="dave@acme.test").user


@pytest.fixture
def mona(acme):
    """A member of Acme: reads the directory, takes no sessions."""
    return MembershipFactory(organization=acme, role=Role.MEMBER, user__email="mona@acme.test").user


def start(client, **body):
    return client.post("/api/v1/sessions", body, format="json")


def test_an_agent_cannot_start_a_session_in_a_colleagues_name(acme, bob, carol):
    response = start(as_user(bob), agent_id=carol.public_id)
    assert response.status_code == 403 and response.json()["error"]["code"] == "assign_forbidden"
    assert not SupportSession.objects.for_org(acme).exists()
    mine = start(as_user(bob), agent_id=bob.public_id)
    assert mine.status_code == 201 and mine.json()["agent"]["id"] == bob.public_id


def test_an_admin_assigns_sessions_to_agents_only(acme, carol, bob, mona):
    refused = start(as_user(carol), agent_id=mona.public_id)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_an_agent"
    assert refused.json()["error"]["details"]["field"] == "agent_id"
    assert not SupportSession.objects.for_org(acme).exists()
    assigned = start(as_user(carol), agent_id=bob.public_id)
    assert assigned.status_code == 201 and assigned.json()["agent"]["id"] == bob.public_id


def test_an_api_key_cannot_give_a_session_to_a_member(acme, alice, mona):
    from integrations.credentials.services import api_key_create
    from orgs.tenancy import org_context_for_user

    _key, secret = api_key_create(org=org_context_for_user(alice, "acme"), name="crm", scopes=["sessions:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = start(client, agent_id=mona.public_id)
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_an_agent"


def test_only_owners_remove_or_demote_admins(acme, alice, carol, dave):
    url = f"/api/v1/members/{dave.public_id}"
    demoted = as_user(carol).patch(url, {"role": "agent"}, format="json")
    assert demoted.status_code == 403 and demoted.json()["error"]["code"] == "owner_required"
    removed = as_user(carol).delete(url)
    assert removed.status_code == 403 and removed.json()["error"]["code"] == "owner_required"
    assert Membership.objects.get(organization=acme, user=dave).role == Role.ADMIN
    assert as_user(alice).patch(url, {"role": "agent"}, format="json").status_code == 200
    assert Membership.objects.get(organization=acme, user=dave).role == Role.AGENT


def test_an_admin_still_manages_agents_and_may_step_down(acme, alice, carol, bob):
    assert (
        as_user(carol).patch(f"/api/v1/members/{bob.public_id}", {"role": "member"}, format="json").status_code == 200
    )
    assert (
        as_user(carol).patch(f"/api/v1/members/{carol.public_id}", {"role": "agent"}, format="json").status_code == 200
    )
    assert Membership.objects.get(organization=acme, user=carol).role == Role.AGENT


def test_the_members_page_follows_the_same_rule(client, acme, alice, carol, dave):
    client.force_login(carol)
    response = client.post(f"/o/acme/members/{dave.public_id}/remove")
    assert response.status_code in (302, 403)
    assert Membership.objects.filter(organization=acme, user=dave).exists()
