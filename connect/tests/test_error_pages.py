"""The product's own 400, 403, 404 and 500 pages on every route, customers' routes included, with DEBUG on too.

A mistyped customer link must never show Django's debug page (every URL pattern of the product) nor a traceback with
the settings; the API keeps its one JSON error shape whatever DEBUG says.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client, RequestFactory

from connect import errors
from connect.error_pages import page_500
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

DEBUG_PAGE_MARKERS = ("Using the URLconf defined in", "Traceback", "DEBUG = True", "SECRET_KEY", "Request Method:")


def assert_product_page(html: str) -> None:
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert 'class="card error-page"' in html
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in html, marker


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "path",
    [
        "/join/123/456",  # a code link with a slash typed into it: no route matches
        "/join/123456789/",
        "/s/not-a-session/",  # a session link that names no session
        "/s/",
        "/invitations/",
    ],
)
def test_a_mistyped_customer_link_gets_the_customer_404(debug, path):
    answer = Client().get(path)
    assert answer.status_code == 404
    html = answer.content.decode()
    assert_product_page(html)
    assert "This link does not work" in html
    assert "9-digit code" in html
    assert '<a class="button" href="/join">Enter a session code</a>' in html


def test_another_customers_session_link_is_a_404_too(debug, acme, bob):
    session = SupportSessionFactory(organization=acme)
    answer = Client().get(f"/s/{session.public_id}/")  # no customer token in this browser
    assert answer.status_code == 404
    assert_product_page(answer.content.decode())


@pytest.mark.parametrize("path", ["/nothing-here", "/o/", "/static-typo/app.css"])
def test_an_unknown_address_gets_the_product_404_with_sign_in_and_join(debug, path):
    answer = Client().get(path)
    assert answer.status_code == 404
    html = answer.content.decode()
    assert_product_page(html)
    assert "Page not found" in html
    assert 'href="/accounts/login/">Sign in</a>' in html and 'href="/join">Join a support session</a>' in html


def test_a_signed_in_persons_404_leads_back_to_their_dashboard(debug, client, acme, bob):
    client.force_login(bob)
    answer = client.get("/o/acme/sessions/no-such-session/")
    assert answer.status_code == 404
    html = answer.content.decode()
    assert_product_page(html)
    assert '<a class="button" href="/o/acme/">Back to the Acme Inc dashboard</a>' in html
    assert 'class="orgnav"' in html  # still inside Acme: its menu stays


def test_a_missing_trailing_slash_is_still_redirected(debug, client, acme, bob):
    client.force_login(bob)
    answer = client.get("/o/acme/members")
    assert answer.status_code == 301 and answer["Location"] == "/o/acme/members/"


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/sessions/nope/events/extra"])
def test_the_api_answers_unknown_addresses_in_its_error_shape(debug, path):
    answer = Client().get(path)
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}


@pytest.fixture
def failing_customer_page(monkeypatch):
    """The customer's session page fails with a database error."""

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("sessions.views.services.session_for_customer", broken)
    return "/s/sess_whatever/"


def test_a_failure_on_a_customer_page_gets_the_styled_500_never_the_traceback(debug, failing_customer_page, caplog):
    answer = Client(raise_request_exception=False).get(failing_customer_page)
    assert answer.status_code == 500
    html = answer.content.decode()
    assert_product_page(html)
    assert "Something went wrong on our side" in html and '<a class="button" href="/">Back to the start</a>' in html
    assert "database is locked" not in html
    assert any("Internal Server Error: /s/sess_whatever/" in r.getMessage() for r in caplog.records)  # still logged


def test_with_debug_on_a_signed_in_developer_keeps_the_traceback_on_staff_pages(settings, client, bob, monkeypatch):
    settings.DEBUG = True

    def broken(*args, **kwargs):
        raise RuntimeError("the developer wants to see this")

    monkeypatch.setattr("orgs.views.selectors.organization_members", broken)
    client.force_login(bob)
    client.raise_request_exception = False
    answer = client.get("/o/acme/")
    assert answer.status_code == 500
    assert "the developer wants to see this" in answer.content.decode()


def test_an_api_failure_is_json_with_debug_on_or_off(debug, client, bob, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("sessions.api.selectors.sessions_visible", broken)
    client.force_login(bob)
    client.raise_request_exception = False
    answer = client.get("/api/v1/sessions")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "server_error"


def test_the_500_page_needs_no_database_and_no_context_processor(monkeypatch):
    def no_database(*args, **kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(CursorWrapper, "execute", no_database)
    monkeypatch.setattr(CursorWrapper, "executemany", no_database)
    request = RequestFactory().get("/o/acme/")
    answer = errors.handler500(request)
    assert answer.status_code == 500
    html = answer.content.decode()
    assert_product_page(html)
    assert "Something went wrong on our side" in html


def test_the_500_page_survives_a_broken_template(monkeypatch):
    from django.template import TemplateDoesNotExist

    def missing(name, *args, **kwargs):
        raise TemplateDoesNotExist(name)

    monkeypatch.setattr("connect.error_pages.loader.get_template", missing)
    answer = page_500(RequestFactory().get("/"))
    assert answer.status_code == 500
    assert "Something went wrong on our side" in answer.content.decode()


def test_a_form_sent_without_its_csrf_token_gets_the_styled_403(debug, acme, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    answer = client.post("/o/acme/sessions/", {"customer_name": "Carl"})
    assert answer.status_code == 403
    html = answer.content.decode()
    assert_product_page(html)
    assert "This form could not be sent" in html and "reload the page" in html
    assert "CSRF verification failed" not in html


def test_a_bad_request_gets_the_styled_400(debug):
    request = RequestFactory().get("/join")
    answer = errors.handler400(request)
    assert answer.status_code == 400
    assert_product_page(answer.content.decode())
    assert "This request could not be understood" in answer.content.decode()
