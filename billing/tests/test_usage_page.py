"""The Usage page: figures of this organization only, for owners and admins, the CSV, and the menu entry."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import metering, services

pytestmark = pytest.mark.django_db

URL = "/o/acme/usage/"


def chart_data(response) -> dict:
    found = re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(found.group(1))


@pytest.fixture
def usage(acme, globex, bob):
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    who = {"agent_id": bob.public_id, "agent_name": "Bob Agent"}
    metering.record(organization=acme, metric="sessions", quantity=1, source_key="s1", occurred_at=now, **who)
    metering.record(organization=acme, metric="session_minutes", quantity=25, source_key="s1", occurred_at=now, **who)
    metering.record(organization=acme, metric="sessions", quantity=1, source_key="s2", occurred_at=yesterday, **who)
    metering.record(organization=acme, metric="meeting_minutes", quantity=120, source_key="m1", occurred_at=now)
    metering.record(
        organization=globex,
        metric="sessions",
        quantity=1,
        source_key="g",
        occurred_at=now,
        agent_id="usr_globex",
        agent_name="Gina Globex",
    )
    metering.record(organization=globex, metric="meeting_minutes", quantity=9999, source_key="gm", occurred_at=now)
    return now


def test_an_owner_sees_the_last_30_days_and_this_month(client, alice, usage):
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 200
    data = chart_data(response)
    series = {s["metric"]: s for s in data["series"]}
    assert len(data["labels"]) == 30 and data["dates"][-1] == metering.today_utc().isoformat()
    assert series["sessions"]["values"][-2:] == [1, 1] and series["sessions"]["total"] == 2
    assert series["meeting_minutes"]["total"] == 120  # not Globex's 9999
    assert data["agents"]["labels"] == ["Bob Agent"] and data["agents"]["minutes"] == [25]
    page = response.content.decode()
    assert "Gina Globex" not in page and "9,999" not in page
    assert 'id="chart-sessions"' in page and "vendor/chartjs/chart.umd.min.js" in page
    assert 'href="/o/acme/billing/" aria-current="page"' in page  # the menu's Billing entry holds this page


def test_this_month_is_measured_against_the_plans_limits(client, alice, acme, usage):
    services.license_change(organization=acme, overrides={"meeting_minutes_month": 200})
    client.force_login(alice)
    page = client.get(URL).content.decode()
    figure = re.search(r'data-metric="meeting_minutes">(.*?)</div>', page, re.S).group(1)
    # 120 of 200 minutes: a meter at 60 %
    assert "120" in figure and "200 minutes" in figure and 'value="60"' in figure


def test_an_admin_may_see_it_an_agent_may_not(client, carol, bob, usage):
    client.force_login(carol)
    assert client.get(URL).status_code == 200
    client.force_login(bob)
    assert client.get(URL).status_code == 403
    assert client.get(URL + "?format=csv").status_code == 403
    assert 'href="/o/acme/billing/"' not in client.get("/o/acme/").content.decode()  # no Billing entry


def test_another_organization_cannot_reach_it(client, gina, usage):
    client.force_login(gina)
    assert client.get(URL).status_code == 404
    assert client.get(URL + "?format=csv").status_code == 404


def test_the_csv_has_one_row_per_day(client, alice, usage):
    client.force_login(alice)
    today = metering.today_utc()
    start = today - timedelta(days=2)
    response = client.get(URL, {"format": "csv", "from": start.isoformat(), "to": today.isoformat()})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["date"] for r in rows] == [(start + timedelta(days=i)).isoformat() for i in range(3)]
    assert [r["sessions"] for r in rows] == ["0", "1", "1"]
    assert rows[-1]["meeting_minutes"] == "120" and rows[-1]["session_minutes"] == "25"


def test_a_bad_csv_range_says_what_to_fix(client, alice, usage):
    client.force_login(alice)
    response = client.get(URL, {"format": "csv", "from": "2026-11-10", "to": "2026-11-01"})
    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]
    assert "must not be after" in response.content.decode()
