"""Session history worth searching: search, filters, pages, CSV, figures and time zones, on the page and the API,
and nobody finds a session they may not see (another organization; another agent when agents see only their own)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from orgs.models import Role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import MembershipFactory
from sessions import history
from sessions.models import EndReason, Status, SupportSession
from sessions.tests.factories import SessionEventFactory, SupportSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(acme):
    """Another agent at Acme."""
    return MembershipFactory(
        organization=acme, role=Role.AGENT, user__email="dave@acme.test", user__name="Dave Dunn"
    ).user


def ended(organization, agent, *, minutes=10, to_connect=30, created=None, **fields):
    created = created or timezone.now() - timedelta(minutes=minutes + 1)
    started = created + timedelta(seconds=to_connect)
    session = SupportSessionFactory(organization=organization, agent=agent, **fields)
    SupportSession.objects.for_org(organization).filter(pk=session.pk).update(
        status=fields.get("status", Status.ENDED),
        end_reason=fields.get("end_reason", EndReason.AGENT_ENDED),
        created_at=created,
        started_at=started,
        ended_at=started + timedelta(minutes=minutes),
    )
    session.refresh_from_db()
    return session


def history_page(client, **params):
    return client.get(reverse("session_history", args=["acme"]), params)


def listed(response) -> set[str]:
    import re

    return set(re.findall(r'data-session="(ses_[^"]+)"', response.content.decode()))


@pytest.fixture
def sessions(acme, bob, dave, globex, gina):
    return {
        "carl": ended(acme, bob, customer_name="Carl Customer", ticket_ref="ZD-1042", code="123456789"),
        "dora": ended(acme, dave, customer_name="Dora Doe", end_reason=EndReason.CUSTOMER_ENDED),
        "globex": ended(globex, gina, customer_name="Carl Customer", ticket_ref="ZD-1042"),
    }


def test_search_by_customer_code_agent_and_ticket(client, acme, alice, sessions):
    client.force_login(alice)
    carl, dora = sessions["carl"].public_id, sessions["dora"].public_id
    assert listed(history_page(client, q="carl")) == {carl}  # Globex's Carl is not Acme's
    assert listed(history_page(client, q="zd-1042")) == {carl}
    assert listed(history_page(client, q="456789")) == {carl}
    assert listed(history_page(client, q="Dunn")) == {dora}  # the agent's name
    assert listed(history_page(client, q="dave@acme")) == {dora}
    assert listed(history_page(client, q="nobody")) == set()
    assert "No session matches" in history_page(client, q="nobody").content.decode()


def test_filters_by_outcome_agent_and_date(client, acme, alice, dave, sessions):
    old = ended(acme, dave, customer_name="Old Otto", created=timezone.now() - timedelta(days=40))
    client.force_login(alice)
    carl, dora = sessions["carl"].public_id, sessions["dora"].public_id
    assert listed(history_page(client, outcome="customer_ended")) == {dora}
    assert listed(history_page(client, agent=dave.public_id)) == {dora, old.public_id}
    today = timezone.localdate().isoformat()
    assert listed(history_page(client, since=today)) == {carl, dora}
    assert listed(history_page(client, until=(timezone.localdate() - timedelta(days=30)).isoformat())) == {
        old.public_id
    }


def test_bad_filters_are_explained_and_find_nothing(client, alice, sessions):
    client.force_login(alice)
    response = history_page(client, since="yesterday-ish")
    assert response.status_code == 400
    assert "must be a date" in response.content.decode() and listed(response) == set()
    assert history_page(client, outcome="bogus").status_code == 400


def test_pages_of_fifty(client, acme, alice, bob):
    for _ in range(history.PAGE_SIZE + 3):
        SupportSessionFactory(organization=acme, agent=bob)
    client.force_login(alice)
    first, second = history_page(client), history_page(client, page=2)
    assert len(listed(first)) == 50 and len(listed(second)) == 3 and not listed(first) & listed(second)
    assert "Page 1 of 2" in first.content.decode()


def test_csv_exports_the_filtered_set_with_formulas_defused(client, acme, alice, bob, sessions):
    ended(acme, bob, customer_name='=HYPERLINK("http://evil")', ticket_ref="+1")
    client.force_login(alice)
    response = history_page(client, q="carl", export="csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["id"] for r in rows] == [sessions["carl"].public_id]
    assert rows[0]["ticket_ref"] == "ZD-1042" and rows[0]["time_zone"] == "UTC" and rows[0]["duration_seconds"] == "600"
    everything = list(
        csv.DictReader(io.StringIO(b"".join(history_page(client, export="csv").streaming_content).decode()))
    )
    evil = next(r for r in everything if "HYPERLINK" in r["customer_name"])
    assert evil["customer_name"].startswith("'=") and evil["ticket_ref"] == "'+1"
    assert sessions["globex"].public_id not in {r["id"] for r in everything}


def test_an_agent_who_sees_only_their_own_finds_only_their_own_everywhere(client, acme, bob, sessions):
    assert acme.agents_see_all_sessions is False
    client.force_login(bob)
    mine, dora = sessions["carl"].public_id, sessions["dora"]
    assert listed(history_page(client)) == {mine}
    assert listed(history_page(client, q="Dora")) == set()
    rows = list(csv.DictReader(io.StringIO(b"".join(history_page(client, export="csv").streaming_content).decode())))
    assert [r["id"] for r in rows] == [mine]
    api = APIClient()
    api.force_login(bob)
    assert dora.public_id not in {s["id"] for s in api.get("/api/v1/sessions").json()["results"]}
    assert api.get("/api/v1/sessions", {"agent": dora.agent.public_id}).json()["results"] == []
    log = reverse("session_log_fragment", args=["acme", dora.public_id])
    assert client.get(log).status_code == 404
    page = client.get(reverse("session_dashboard", args=["acme"])).content.decode()
    assert dora.public_id not in page and "Dora" not in page


def test_an_agent_sees_colleagues_sessions_when_the_organization_allows(client, acme, bob, sessions):
    acme.agents_see_all_sessions = True
    acme.save()
    client.force_login(bob)
    assert listed(history_page(client)) == {sessions["carl"].public_id, sessions["dora"].public_id}


def test_another_organization_finds_nothing_of_acme(client, gina, sessions):
    client.force_login(gina)
    assert client.get(reverse("session_history", args=["acme"])).status_code == 404
    page = client.get(reverse("session_history", args=["globex"]), {"q": "carl"})
    assert listed(page) == {sessions["globex"].public_id}
    log = reverse("session_log_fragment", args=["globex", sessions["carl"].public_id])
    assert client.get(log).status_code == 404


def test_api_filters_and_clear_400s(acme, alice, sessions):
    api = APIClient()
    api.force_login(alice)
    ids = lambda **p: {s["id"] for s in api.get("/api/v1/sessions", p).json()["results"]}  # noqa: E731
    assert ids(q="ZD-1042") == {sessions["carl"].public_id}
    assert ids(outcome="customer_ended") == {sessions["dora"].public_id}
    assert ids(agent=sessions["dora"].agent.public_id) == {sessions["dora"].public_id}
    assert ids(since=timezone.now().date().isoformat()) == {sessions["carl"].public_id, sessions["dora"].public_id}
    assert ids(until="2001-01-01") == set()
    for params, field in (({"since": "soon"}, "since"), ({"outcome": "bogus"}, "outcome"), ({"status": "x"}, "status")):
        response = api.get("/api/v1/sessions", params)
        body = response.json()
        assert response.status_code == 400 and body["error"]["code"] == "validation_error", body
        assert body["error"]["details"]["field"] == field and body["error"]["message"]
    response = api.get("/api/v1/sessions", {"since": "2026-12-02", "until": "2026-12-01"})
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "until"


def test_figures_today_week_medians_and_per_agent(acme, alice, bob, dave, gina, globex):
    now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday
    ended(acme, bob, minutes=10, to_connect=20, created=now - timedelta(hours=2))
    ended(acme, bob, minutes=20, to_connect=40, created=now - timedelta(hours=1))
    ended(acme, dave, minutes=4, to_connect=60, created=now - timedelta(days=1))  # Tuesday
    ended(acme, dave, minutes=99, created=now - timedelta(days=3))  # Sunday: last week
    ended(globex, gina, minutes=1, created=now - timedelta(hours=1))  # not Acme's
    figures = history.figures(org_context_for_user(alice, "acme"), now=now, zone=UTC)
    assert figures["today"] == 2 and figures["week"] == 3
    assert figures["median_to_connect"] == 40 and figures["median_duration"] == 600
    agents = {a["name"]: (a["count"], a["median_duration"]) for a in figures["agents"]}
    assert agents == {bob.get_full_name(): (2, 900), "Dave Dunn": (1, 240)}
    # Bob, who sees only his own sessions, gets figures of his own sessions only.
    mine = history.figures(org_context_for_user(bob, "acme"), now=now, zone=UTC)
    assert mine["week"] == 2 and [a["name"] for a in mine["agents"]] == [bob.get_full_name()]


def test_figures_days_follow_the_viewers_time_zone(acme, alice, bob):
    import zoneinfo

    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 22:00 on Dec 1 in New York: "today" differs
    ended(acme, bob, created=now - timedelta(hours=3, minutes=30))  # 23:30 UTC Dec 1 = 18:30 Dec 1 in New York
    ctx = org_context_for_user(alice, "acme")
    assert history.figures(ctx, now=now, zone=UTC)["today"] == 0
    assert history.figures(ctx, now=now, zone=zoneinfo.ZoneInfo("America/New_York"))["today"] == 1


def test_dashboard_shows_figures_and_links_to_the_history(client, alice, sessions):
    client.force_login(alice)
    page = client.get(reverse("session_dashboard", args=["acme"])).content.decode()
    assert reverse("session_history", args=["acme"]) in page
    assert 'id="figure-today">2<' in page and "Median time to connect" in page and "0:30" in page
    assert "/ws/v1/orgs/acme/live" in page and "<script>" not in page


def test_times_in_the_viewers_time_zone_with_the_zone_shown(client, acme, alice, bob):
    ended(acme, bob, created=datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    client.force_login(alice)
    client.cookies["tz"] = "Asia/Kolkata"
    page = history_page(client).content.decode()
    assert "2026-07-01 17:30" in page and "Asia/Kolkata" in page
    rows = list(csv.DictReader(io.StringIO(b"".join(history_page(client, export="csv").streaming_content).decode())))
    assert rows[0]["created_at"].startswith("2026-07-01T17:30") and rows[0]["time_zone"] == "Asia/Kolkata"
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 300):
        client.cookies["tz"] = bad
        page = history_page(client).content.decode()
        assert "2026-07-01 12:00" in page and "Times in UTC" in page


def test_the_viewers_log_names_who_did_what(client, acme, bob):
    session = SupportSessionFactory(organization=acme, agent=bob, customer_name="Carl Customer", active=True)
    SessionEventFactory(session=session, type="consent_granted", actor_kind="customer", actor=None)
    SessionEventFactory(session=session, type="chat", actor_kind="agent", actor=bob)
    client.force_login(bob)
    fragment = client.get(reverse("session_log_fragment", args=["acme", session.public_id])).content.decode()
    assert "Customer allowed screen sharing" in fragment and "Carl Customer" in fragment
    assert "Chat message" in fragment and bob.get_full_name() in fragment
    assert 'id="session-log"' in fragment and "<html" not in fragment
