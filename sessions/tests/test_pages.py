"""Server-rendered session pages: the dashboard, the viewer, the customer's join and consent pages."""

import re

import pytest
from django.urls import reverse

from orgs.tenancy import org_context_for_user
from sessions import services
from sessions.models import Status, SupportSession

pytestmark = pytest.mark.django_db


def started(agent):
    return services.session_start(
        org=org_context_for_user(agent, "acme"), actor=services.Actor(kind="agent", user=agent)
    )


def test_agent_starts_a_session_from_the_dashboard(client, acme, bob):
    client.force_login(bob)
    response = client.post(reverse("session_dashboard", args=["acme"]), {"customer_name": "Carl"})
    session = SupportSession.objects.for_org(acme).get()
    assert response["Location"] == reverse("session_viewer", args=["acme", session.public_id])
    page = client.get(response["Location"]).content.decode()
    assert session.code[:3] in page and f"/join/{session.code}" in page and "Copy code" in page
    assert 'type="module"' in page and "<script>" not in page  # no inline script (CSP)


def test_dashboard_lists_live_sessions_and_history_with_duration(client, acme, bob):
    from datetime import timedelta

    from django.utils import timezone

    live = started(bob)
    done = started(bob)
    SupportSession.objects.for_org(acme).filter(pk=done.pk).update(
        status=Status.ENDED,
        end_reason="agent_ended",
        started_at=timezone.now() - timedelta(seconds=125),
        ended_at=timezone.now(),
    )
    client.force_login(bob)
    page = client.get(reverse("session_dashboard", args=["acme"])).content.decode()
    assert reverse("session_viewer", args=["acme", live.public_id]) in page
    history = page.split('id="history"', 1)[1]
    assert "2:05" in history and "Ended by the agent" in history


def test_other_organization_cannot_open_a_viewer(client, acme, bob, globex, gina):
    session = started(bob)
    client.force_login(gina)
    assert client.get(reverse("session_viewer", args=["acme", session.public_id])).status_code == 404
    assert client.get(reverse("session_viewer", args=["globex", session.public_id])).status_code == 404
    assert client.post(reverse("session_end", args=["globex", session.public_id])).status_code == 404
    session.refresh_from_db()
    assert session.status == Status.WAITING


def test_customer_sees_who_asks_then_joins(client, acme, bob):
    session = started(bob)
    page = client.get(reverse("join_code", args=[session.code])).content.decode()
    assert "Acme Inc" in page and bob.get_full_name() in page and "would like to see your screen" in page
    response = client.post(
        reverse("join_code", args=[session.code]), {"code": session.code, "confirm": "1", "name": "Carl"}
    )
    assert response["Location"] == reverse("customer_session", args=[session.public_id])
    page = client.get(response["Location"]).content.decode()
    assert "Share my screen" in page and "cannot click or type" in page
    token = re.search(r"customer_token=([^\"&]+)", page).group(1)
    assert services.session_for_customer(session.public_id, token) == session
    session.refresh_from_db()
    assert session.status == Status.CONSENT_REQUESTED and session.customer_name == "Carl"


def test_typed_code_with_spaces_works_and_wrong_codes_are_explained(client, acme, bob):
    session = started(bob)
    wrong = client.post(reverse("join"), {"code": "000 000 000" if session.code != "000000000" else "1"})
    assert wrong.status_code in (400, 404) and "code" in wrong.content.decode().lower()
    spaced = f"{session.code[:3]} {session.code[3:6]} {session.code[6:]}"
    page = client.post(reverse("join"), {"code": spaced}).content.decode()
    assert "would like to see your screen" in page


def test_someone_elses_customer_page_is_not_found(client, acme, bob):
    session = started(bob)
    services.session_join(code=session.code, actor=services.Actor(kind="customer"))
    assert client.get(reverse("customer_session", args=[session.public_id])).status_code == 404


def test_member_without_session_scopes_is_refused(client, acme):
    from orgs.models import Membership, Role
    from orgs.tests.factories import UserFactory

    viewer = UserFactory(email="mia@acme.test")
    Membership.objects.create(organization=acme, user=viewer, role=Role.MEMBER)
    client.force_login(viewer)
    assert client.get(reverse("session_dashboard", args=["acme"])).status_code == 403
    assert client.post(reverse("session_dashboard", args=["acme"])).status_code == 403
    assert not SupportSession.objects.for_org(acme).exists()
