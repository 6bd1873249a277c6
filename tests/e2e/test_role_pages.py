"""In a real browser: an agent's menu holds only what an agent can use, typing another page's address gives the
product's styled 403 with a way back, and a mistyped customer link on `make run` (DEBUG on) gives the product's 404,
never Django's debug page. Screenshots at 1366 and 1000 px wide."""

from __future__ import annotations

import re

import pytest

from orgs.tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e]

WIDTHS = (1366, 1000)


def menu_entries(page) -> list[str]:
    return [text.strip() for text in page.locator("nav.orgnav a").all_inner_texts()]


@pytest.mark.django_db(transaction=True)
def test_an_agent_sees_only_their_menu_and_a_styled_403_where_they_type_the_url(
    live_server, browser, acme, bob, settings
):
    settings.DEBUG = True  # as `make run` serves
    from .conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 760})
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label(re.compile("Email", re.I)).fill("bob@acme.test")
        page.get_by_label(re.compile("Password", re.I)).fill(PASSWORD)
        page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
        page.wait_for_url(f"{live_server.url}/o/acme/")
        assert menu_entries(page) == ["Dashboard", "Sessions", "Meetings", "Machines", "Members"]
        assert page.get_by_role("link", name="See members").is_visible()
        page.screenshot(path=str(SCREENSHOTS / f"agent-menu-{width}.png"), full_page=True)

        for typed in ("webhooks/", "api-keys/", "settings/", "audit/"):
            answer = page.goto(f"{live_server.url}/o/acme/{typed}")
            assert answer.status == 403
            assert page.get_by_role("heading", name="This page is not available to you").is_visible()
            assert page.get_by_text("Your role in Acme Inc (Agent) does not include this page").is_visible()
            assert menu_entries(page) == ["Dashboard", "Sessions", "Meetings", "Machines", "Members"]
        page.screenshot(path=str(SCREENSHOTS / f"agent-403-{width}.png"), full_page=True)
        page.get_by_role("link", name="Back to the Acme Inc dashboard").click()
        page.wait_for_url(f"{live_server.url}/o/acme/")
        assert page.get_by_role("heading", name="Acme Inc").is_visible()
        context.close()


def test_a_mistyped_customer_link_on_make_run_gets_the_styled_404(embedded_server, browser):
    server = embedded_server("customer-links")  # DJANGO_DEBUG=true, as `make run`
    from .conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 760})
        page = context.new_page()
        for link in ("/join/123/456789", "/s/sess_mistyped/"):
            answer = page.goto(server.base_url + link)
            assert answer.status == 404
            assert page.get_by_role("heading", name="This link does not work").is_visible()
            body = page.locator("body").inner_text()
            assert "URLconf" not in body and "urlpatterns" not in body and "Traceback" not in body
        page.screenshot(path=str(SCREENSHOTS / f"customer-404-{width}.png"), full_page=True)
        page.get_by_role("link", name="Enter a session code").click()
        page.wait_for_url(server.base_url + "/join")
        assert page.get_by_label("Code").is_visible()
        context.close()
