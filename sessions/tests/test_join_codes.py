"""The join page tells a customer what happened to their code: spent, ended, declined or expired, and whom to ask."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orgs.tenancy import org_context_for_user
from sessions import services
from sessions.models import Status, SupportSession

pytestmark = pytest.mark.django_db
CUSTOMER = services.Actor(kind="customer")


def started(agent, slug="acme"):
    return services.session_start(org=org_context_for_user(agent, slug), actor=services.Actor(kind="agent", user=agent))


def typed(client, code, ip="203.0.113.7"):
    response = client.post(reverse("join"), {"code": code}, REMOTE_ADDR=ip)
    return response, response.content.decode()


def test_an_ended_sessions_code_says_so_and_whom_to_ask(client, acme, bob):
    session = started(bob)
    session, _token = services.session_join(code=session.code, actor=CUSTOMER)
    services.session_end(session=session, actor=services.Actor(kind="agent", user=bob))
    response, page = typed(client, session.code)
    assert response.status_code == 404
    assert f"This session has ended. Ask {bob.get_full_name()}" in page and "at Acme Inc for a new code" in page
    assert "No session has this code" not in page


def test_a_declined_sessions_code_says_it_ended(client, acme, bob):
    session = started(bob)
    session, _token = services.session_join(code=session.code, actor=CUSTOMER)
    services.session_decline(session=session, actor=CUSTOMER)
    _response, page = typed(client, session.code)
    assert "This session has ended" in page


def test_an_expired_code_says_it_expired_and_whom_to_ask(client, acme, bob):
    session = started(bob)
    SupportSession.objects.for_org(acme).filter(pk=session.pk).update(code_expires_at=timezone.now())
    first, page = typed(client, session.code)
    assert first.status_code == 404 and "This code has expired" in page
    # Asked again (the session is now expired in the database): the same answer, naming the agent.
    _again, page = typed(client, session.code)
    assert f"This code has expired. Ask {bob.get_full_name()}" in page
    assert SupportSession.objects.for_org(acme).get(pk=session.pk).status == Status.EXPIRED


def test_a_spent_code_says_someone_joined_and_changes_nothing(client, acme, bob):
    session = started(bob)
    services.session_join(code=session.code, actor=CUSTOMER, name="Carl")
    response, page = typed(client, session.code)
    assert response.status_code == 409
    assert "Someone has already joined with this code" in page and f"ask {bob.get_full_name()}" in page
    assert "would like to see your screen" not in page
    session.refresh_from_db()
    assert session.status == Status.CONSENT_REQUESTED and session.customer_name == "Carl"


def test_the_browser_that_joined_goes_back_to_its_own_page(client, acme, bob):
    session = started(bob)
    joined = client.post(reverse("join_code", args=[session.code]), {"code": session.code, "confirm": "1"})
    assert joined.status_code == 302
    again = client.get(reverse("join_code", args=[session.code]))
    assert again.status_code == 302 and again["Location"] == reverse("customer_session", args=[session.public_id])
    # Another browser (another customer, or another agent of the same organization) with the same code is refused.
    other = Client()
    response, page = typed(other, session.code)
    assert response.status_code == 409 and "already joined" in page
    other.force_login(bob)
    response, _page = typed(other, session.code)
    assert response.status_code == 409


def test_an_old_ended_code_names_nobody(client, acme, bob):
    old = started(bob)
    services.session_end(session=old, actor=services.Actor(kind="agent", user=bob))
    SupportSession.objects.for_org(acme).filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    _response, page = typed(client, old.code)
    assert "No session has this code" in page and bob.get_full_name() not in page and "Acme" not in page


def test_a_live_code_names_its_own_session_not_another_organizations_ended_one(client, acme, bob, globex, gina):
    theirs = started(gina, "globex")
    services.session_end(session=theirs, actor=services.Actor(kind="agent", user=gina))
    ours = started(bob)
    SupportSession.objects.for_org(acme).filter(pk=ours.pk).update(code=theirs.code)
    _response, page = typed(client, theirs.code)
    assert "Acme Inc" in page and "would like to see your screen" in page
    assert "Globex" not in page and gina.get_full_name() not in page


def test_ended_and_expired_codes_still_count_against_the_rate_limit(client, acme, bob):
    ended = started(bob)
    services.session_end(session=ended, actor=services.Actor(kind="agent", user=bob))
    for _ in range(10):  # CONNECT_CODE_ATTEMPTS_PER_MINUTE
        response, _page = typed(client, ended.code, ip="198.51.100.9")
        assert response.status_code == 404
    refused, page = typed(client, ended.code, ip="198.51.100.9")
    assert refused.status_code == 429 and "Too many wrong codes" in page
    # A live code from that address is refused too until the minute is over: the limit is per address.
    live = started(bob)
    response, page = typed(client, live.code, ip="198.51.100.9")
    assert response.status_code == 429 and "would like to see your screen" not in page


def test_the_api_join_answers_session_ended_in_the_one_error_shape(client, acme, bob):
    session = started(bob)
    services.session_end(session=session, actor=services.Actor(kind="agent", user=bob))
    response = client.post("/api/v1/join", {"code": session.code}, content_type="application/json")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "session_ended" and f"Ask {bob.get_full_name()}" in error["message"]


def test_the_site_root_offers_joining_with_a_code_beside_sign_in(client, acme, bob):
    page = client.get("/").content.decode()
    assert "Join a support session" in page and 'name="code"' in page and f'action="{reverse("join")}"' in page
    assert reverse("account_login") in page and "Sign in" in page
    session = started(bob)
    response = client.post(reverse("join"), {"code": session.code}, REMOTE_ADDR="203.0.113.8")
    assert "would like to see your screen" in response.content.decode()
