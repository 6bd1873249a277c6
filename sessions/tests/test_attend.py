"""Attended control: the customer's page downloads a one-time launcher whose ticket lets the desktop agent join that
one session as its customer (sessions.services.attend_ticket_*, POST /api/v1/join/attend)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from orgs.tenancy import org_context_for_user
from sessions import services
from sessions.models import SessionEvent

pytestmark = pytest.mark.django_db
ATTEND = "/api/v1/join/attend"


def joined_in_browser(agent, client):
    session = services.session_start(
        org=org_context_for_user(agent, "acme"), actor=services.Actor(kind="agent", user=agent)
    )
    client.post(reverse("join_code", args=[session.code]), {"code": session.code, "confirm": "1", "name": "Carl"})
    return session


def download(client, session, os="unix"):
    return client.post(reverse("customer_attend_download", args=[session.public_id]), {"os": os})


def ticket_of(response) -> str:
    return re.search(r"--ticket (att_\S+)", response.content.decode()).group(1)


def test_the_launcher_carries_a_ticket_that_joins_this_session_once(client, acme, bob):
    session = joined_in_browser(bob, client)
    response = download(client, session)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'attachment; filename="connect-attend-{session.code}.sh"'
    script = response.content.decode()
    assert script.startswith("#!/bin/sh\n") and "exec connect-agent attend --server http" in script
    windows = download(client, session, "windows")
    assert windows["Content-Disposition"].endswith('.cmd"') and "\r\nconnect-agent attend" in windows.content.decode()

    api = Client()
    answer = api.post(ATTEND, {"ticket": ticket_of(response)}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["session_id"] == session.public_id and body["agent"] == bob.get_full_name()
    assert services.session_for_customer(session.public_id, body["customer_token"]) == session
    again = api.post(ATTEND, {"ticket": ticket_of(response)}, content_type="application/json")
    assert again.status_code == 404 and again.json()["error"]["code"] == "invalid_ticket"
    kinds = list(SessionEvent.objects.filter(session=session).values_list("type", flat=True))
    assert kinds.count("desktop_agent_offered") == 2 and kinds.count("desktop_agent_joined") == 1


def test_only_the_browser_that_joined_may_download_and_only_by_post(client, acme, bob):
    session = joined_in_browser(bob, client)
    assert client.get(reverse("customer_attend_download", args=[session.public_id])).status_code == 405
    stranger = Client()
    assert download(stranger, session).status_code == 404
    other = joined_in_browser(bob, Client())
    assert download(client, other).status_code == 404  # this browser's credential is for the first session


def test_an_ended_session_gives_no_ticket_and_spends_none(client, acme, bob):
    session = joined_in_browser(bob, client)
    ticket = ticket_of(download(client, session))
    session.refresh_from_db()
    services.session_end(session=session, actor=services.Actor(kind="agent", user=bob))
    response = download(client, session)
    assert response.status_code in (404, 409)
    answer = Client().post(ATTEND, {"ticket": ticket}, content_type="application/json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "session_ended"


@pytest.mark.parametrize("body", [{}, {"ticket": ""}, {"ticket": 5}, {"ticket": "x" * 300}, {"ticket": "att_nope"}])
def test_bad_tickets_are_refused_in_the_one_shape(acme, body):
    answer = Client().post(ATTEND, body, content_type="application/json")
    assert answer.status_code in (400, 404) and set(answer.json()["error"]) == {"code", "message", "details"}


def test_wrong_tickets_are_rate_limited_per_address(acme, settings):
    settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE = 3
    api = Client()
    codes = [
        api.post(ATTEND, {"ticket": f"att_guess{n}"}, content_type="application/json").status_code for n in range(5)
    ]
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
