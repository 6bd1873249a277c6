"""The menu shows what the person's role can use, and typing the address of anything else gives the product's 403.

Every menu entry is checked against the page it names: shown exactly when that page opens for the role, so the menu
and the pages cannot drift apart.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from orgs.models import Role
from orgs.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

# Menu label -> URL name of the page it opens.
ENTRIES = {
    "Dashboard": "org_dashboard",
    "Sessions": "session_dashboard",
    "Meetings": "meeting_list",
    "Machines": "machine_list",
    "Members": "org_members",
    "API keys": "org_api_keys",
    "Webhooks": "org_webhooks",
    "Settings": "org_settings",
    "Billing": "org_billing",
    "Audit log": "audit_log",
}
EXPECTED = {
    Role.OWNER: set(ENTRIES),
    Role.ADMIN: set(ENTRIES),
    Role.AGENT: {"Dashboard", "Sessions", "Meetings", "Machines", "Members"},
    Role.MEMBER: {"Dashboard", "Meetings", "Members"},
}


def menu(html: str) -> list[str]:
    nav = re.search(r'<nav class="orgnav".*?</nav>', html, re.S)
    assert nav, "no organization menu on the page"
    return [re.sub(r"<.*?>", "", label).strip() for label in re.findall(r"<a [^>]*>(.*?)</a>", nav.group(0), re.S)]


@pytest.fixture
def person(acme):
    def make(role: str):
        return MembershipFactory(organization=acme, role=role, user__email=f"{role}@acme.test").user

    return make


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.AGENT, Role.MEMBER])
def test_the_menu_shows_exactly_the_pages_the_role_can_open(client, acme, person, role):
    client.force_login(person(role))
    shown = menu(client.get(reverse("org_dashboard", args=["acme"])).content.decode())
    assert set(shown) == EXPECTED[role]
    assert shown[0] == "Dashboard"
    for label, url_name in ENTRIES.items():
        answer = client.get(reverse(url_name, args=["acme"]))
        if label in EXPECTED[role]:
            assert answer.status_code == 200, (role, label)
            assert menu(answer.content.decode()) == shown  # the same menu on every page
        else:
            assert answer.status_code == 403, (role, label)


def test_the_current_page_is_marked_in_the_menu(client, acme, alice):
    client.force_login(alice)
    html = client.get(reverse("org_webhooks", args=["acme"])).content.decode()
    assert re.search(r'<a href="/o/acme/webhooks/" aria-current="page">Webhooks</a>', html)
    assert html.count('aria-current="page"') == 1


@pytest.mark.parametrize(
    ("url_name", "needs"),
    [
        ("org_api_keys", "see API keys and OAuth2 applications"),
        ("org_webhooks", "see webhook endpoints and deliveries"),
        ("org_settings", "change the organization's settings"),
        ("audit_log", "read the audit log"),
    ],
)
def test_an_agent_typing_the_address_gets_the_styled_403_with_why_and_a_way_back(client, acme, bob, url_name, needs):
    client.force_login(bob)
    answer = client.get(reverse(url_name, args=["acme"]))
    assert answer.status_code == 403
    html = answer.content.decode()
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html  # the product's layout, not a white page
    assert "403 Forbidden" not in html
    assert "This page is not available to you" in html
    assert "Your role in Acme Inc (Agent) does not include this page" in html
    assert needs in html.replace("&#x27;", "'")
    assert '<a class="button" href="/o/acme/">Back to the Acme Inc dashboard</a>' in html
    assert set(menu(html)) == EXPECTED[Role.AGENT]  # the agent's own menu, still usable from here


def test_an_action_the_role_lacks_gets_the_styled_403_too(client, acme, bob, alice):
    client.force_login(bob)
    answer = client.post(reverse("org_members", args=["acme"]), {"email": "eve@acme.test", "role": "agent"})
    assert answer.status_code == 403
    html = answer.content.decode()
    assert "Your role in Acme Inc (Agent) does not allow this." in html
    assert "Back to the Acme Inc dashboard" in html
    members = client.get(reverse("org_members", args=["acme"])).content.decode()
    assert "eve@acme.test" not in members and "Send invitation" not in members


def test_the_dashboard_offers_only_what_the_role_can_use(client, acme, bob, alice, person):
    client.force_login(bob)
    html = client.get(reverse("org_dashboard", args=["acme"])).content.decode()
    assert "See members" in html and "Manage members" not in html
    assert "Open sessions" in html
    client.force_login(person(Role.MEMBER))
    html = client.get(reverse("org_dashboard", args=["acme"])).content.decode()
    assert "Open sessions" not in html and "does not include running sessions" in html
    client.force_login(alice)
    html = client.get(reverse("org_dashboard", args=["acme"])).content.decode()
    assert "Manage members" in html and "Open sessions" in html


@pytest.mark.parametrize("url_name", ["org_dashboard", "org_webhooks", "org_settings", "org_members"])
def test_another_organizations_pages_are_a_styled_404_not_a_403(client, acme, globex, bob, gina, url_name):
    """Missing and forbidden look the same: the slug of an organization one is not in answers 404, whatever the role
    would be allowed there."""
    for outsider, slug in ((bob, "globex"), (gina, "acme")):
        client.force_login(outsider)
        answer = client.get(reverse(url_name, args=[slug]))
        assert answer.status_code == 404
        html = answer.content.decode()
        assert "Page not found" in html and "Back to your dashboard" in html
        assert 'class="orgnav"' not in html  # nothing of the other organization, not even its name
        assert ("Globex" if slug == "globex" else "Acme Inc") not in html


def test_the_api_keeps_its_error_shape_for_a_role_that_lacks_a_scope(client, acme, bob):
    client.force_login(bob)
    answer = client.get("/api/v1/webhooks", HTTP_X_ORGANIZATION="acme")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "missing_scope"
