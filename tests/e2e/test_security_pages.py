"""In a real browser: two-factor enrolment and sign-in, the API-key page, and the API reference under the CSP."""

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from orgs.tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(page, base, email="alice@acme.test"):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile("Email", re.I)).fill(email)
    page.get_by_label(re.compile("Password", re.I)).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign In", re.I)).click()


def test_enrol_then_sign_in_with_a_code(live_server, page, screenshot, acme, alice):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/o/acme/")
    page.goto(f"{live_server.url}/account/security/")
    page.get_by_role("button", name="Set up two-factor authentication").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    assert qr.is_visible() and qr.evaluate("img => img.naturalWidth") > 0  # the data: URI is allowed by the CSP
    screenshot("mfa-enrol")
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    page.get_by_label("Code").fill(code_for(device))
    page.get_by_role("button", name="Turn on").click()
    assert page.get_by_role("heading", name="Your recovery codes").is_visible()
    assert page.locator("ul.codes li").count() == 10

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/accounts/2fa/")
    screenshot("mfa-verify")
    # Without the code nothing is reachable.
    page.goto(f"{live_server.url}/o/acme/")
    assert not page.url.endswith("/o/acme/")  # sent back into the sign-in, which resumes at the code step
    page.goto(f"{live_server.url}/accounts/2fa/")
    device.refresh_from_db()
    device.last_t = -1  # the enrolment code was spent; the next code of the same 30 s window is the same one
    device.save()
    page.get_by_label("Code").fill(code_for(device))
    page.get_by_role("button", name="Verify and sign in").click()
    page.wait_for_url(f"{live_server.url}/o/acme/")
    assert page.get_by_role("heading", name="Acme Inc").is_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_api_key_page_and_api_reference(live_server, page, screenshot, acme, alice):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/o/acme/")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("Zendesk sync")
    page.get_by_label(re.compile("List members and invitations")).check()
    page.get_by_role("button", name="Create key").click()
    assert page.locator("#new-key").inner_text().startswith("cnk_")
    screenshot("api-keys")

    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector("text=BizGaze Connect API", timeout=15000)
    assert page.locator(".opblock").count() > 10
    screenshot("api-docs")
    assert not [e for e in errors if "Content Security Policy" in e], errors
