"""GET /api/v1/usage, and the plan's API requests per minute for API keys and OAuth apps."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from oauth2_provider.models import get_application_model
from rest_framework.test import APIClient

from billing import metering, services
from billing.catalogue import ensure_plans
from billing.models import License, Plan, UsageRecord
from integrations.credentials import services as integration_services
from orgs.tenancy import org_context_for_user

pytestmark = pytest.mark.django_db

# Calls in these tests are counted in one clock minute, whenever the test runs.
FIXED_MINUTE = datetime(2026, 11, 20, 10, 15, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def one_minute():
    with mock.patch.object(metering, "_clock", return_value=FIXED_MINUTE):
        yield


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def person(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def key_for(user, slug: str, scopes=("usage:read", "members:read")) -> str:
    _key, secret = integration_services.api_key_create(
        org=org_context_for_user(user, slug), name="Sync", scopes=list(scopes)
    )
    return secret


def limit_api(org, per_minute: int) -> None:
    services.license_change(organization=org, overrides={"api_requests_per_minute": per_minute})


def test_a_key_reads_its_organizations_usage_per_day(acme, alice, globex, gina):
    day = date(2026, 11, 5)
    moment = datetime(2026, 11, 5, 9, tzinfo=UTC)
    metering.record(organization=acme, metric="sessions", quantity=3, source_key="a", occurred_at=moment)
    metering.record(organization=globex, metric="sessions", quantity=40, source_key="g", occurred_at=moment)
    metering.usage_rollup_day(organization=acme, day=day)
    metering.usage_rollup_day(organization=globex, day=day)

    response = bearer(key_for(alice, "acme")).get("/api/v1/usage", {"from": "2026-11-04", "to": "2026-11-06"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-11-04", "2026-11-06")
    assert [(d["date"], d["sessions"]) for d in body["days"]] == [
        ("2026-11-04", 0),
        ("2026-11-05", 3),
        ("2026-11-06", 0),
    ]
    assert body["totals"]["sessions"] == 3 and body["totals"]["api_calls"] == 0
    theirs = person(gina).get("/api/v1/usage", {"from": "2026-11-05", "to": "2026-11-05"}).json()
    assert theirs["totals"]["sessions"] == 40


def test_the_default_range_is_the_last_30_days(acme, alice):
    body = person(alice).get("/api/v1/usage").json()
    assert len(body["days"]) == 30 and body["to"] == metering.today_utc().isoformat()


def test_an_agent_and_another_organization_are_refused(acme, alice, bob, globex, gina):
    refused = person(bob).get("/api/v1/usage")
    assert refused.status_code == 403 and error_of(refused)["code"] == "missing_scope"
    assert person(gina).get("/api/v1/usage", HTTP_X_ORGANIZATION="acme").status_code == 404
    no_scope = bearer(key_for(alice, "acme", scopes=["members:read"])).get("/api/v1/usage")
    assert no_scope.status_code == 403 and error_of(no_scope)["details"]["required_scope"] == "usage:read"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "tomorrow"}, "to"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "to"),
    ],
)
def test_bad_dates_are_a_400_in_the_one_shape(acme, alice, params, field):
    response = person(alice).get("/api/v1/usage", params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error" and error["details"]["field"] == field


def test_a_key_past_the_plans_requests_per_minute_gets_429_with_retry_after(acme, alice):
    limit_api(acme, 3)
    client = bearer(key_for(alice, "acme"))
    assert [client.get("/api/v1/members").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/members")
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == "api_requests_per_minute" and error["details"]["allowed"] == 3
    assert refused["Retry-After"] == "55" and error["details"]["retry_after_seconds"] == 55
    # Every credential of the organization shares the budget; the next minute starts afresh.
    assert bearer(key_for(alice, "acme")).get("/api/v1/members").status_code == 429
    with mock.patch.object(metering, "_clock", return_value=FIXED_MINUTE + timedelta(minutes=1)):
        assert client.get("/api/v1/members").status_code == 200


def test_another_organizations_calls_do_not_count(acme, alice, globex, gina):
    limit_api(acme, 3)
    limit_api(globex, 3)
    theirs = bearer(key_for(gina, "globex"))
    assert [theirs.get("/api/v1/members").status_code for _ in range(4)] == [200, 200, 200, 429]
    ours = bearer(key_for(alice, "acme"))
    assert [ours.get("/api/v1/members").status_code for _ in range(3)] == [200, 200, 200]


def test_people_are_neither_limited_nor_counted_as_api_calls(acme, alice):
    limit_api(acme, 2)
    browser = person(alice)
    assert all(browser.get("/api/v1/members").status_code == 200 for _ in range(5))
    assert metering.api_calls_this_minute(acme) == 0
    key = bearer(key_for(alice, "acme"))
    assert [key.get("/api/v1/members").status_code for _ in range(3)] == [200, 200, 429]


def test_an_oauth_app_is_limited_like_a_key(acme, alice):
    limit_api(acme, 2)
    app, secret = integration_services.oauth_application_create(
        org=org_context_for_user(alice, "acme"),
        name="CRM",
        grant_type=get_application_model().GRANT_CLIENT_CREDENTIALS,
        scopes=["members:read"],
    )
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    token = APIClient().post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "members:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert token.status_code == 200, token.content
    client = bearer(token.json()["access_token"])
    assert [client.get("/api/v1/members").status_code for _ in range(3)] == [200, 200, 429]


def test_counted_calls_are_flushed_into_usage(acme, alice):
    client = bearer(key_for(alice, "acme"))
    for _ in range(4):
        client.get("/api/v1/members")
    assert metering.api_calls_flush(now=FIXED_MINUTE + timedelta(minutes=1)) == 1
    record = UsageRecord.objects.for_org(acme).get(metric="api_calls")
    assert record.quantity == 4 and record.source_key == f"api:{acme.public_id}:202611201015"


def test_a_key_of_an_organization_moved_to_free_gets_402(acme, alice):
    secret = key_for(alice, "acme")
    ensure_plans(Plan)  # the seeded plans, even after a transactional test flushed them
    services.license_change(organization=acme, plan=Plan.objects.get(code="free"), status=License.Status.ACTIVE)
    refused = bearer(secret).get("/api/v1/members")
    assert refused.status_code == 402
    error = error_of(refused)
    assert error["code"] == "plan_limit" and error["details"]["limit"] == "feature:api"
    assert metering.api_calls_this_minute(acme) == 0


def test_a_plan_with_zero_requests_a_minute_has_no_api(acme, alice):
    secret = key_for(alice, "acme")
    limit_api(acme, 0)
    refused = bearer(secret).get("/api/v1/members")
    assert refused.status_code == 402 and error_of(refused)["details"]["limit"] == "api_requests_per_minute"
