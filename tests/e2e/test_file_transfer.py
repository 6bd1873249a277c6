"""File transfer between the agent and the customer in real browsers (Chromium), against a real daphne process.

The bytes go over the WebRTC data channel "files"; the server sees only the control (docs/signaling.md "File
transfer"). A 10 MB random file each way arrives whole, with the SHA-256 both pages show equal to hashlib's; a file over
the organization's limit (set on the Settings page) is refused before anything is offered; a declined offer sends
nothing.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from .servers import OWNER_EMAIL, OWNER_PASSWORD
from .test_browser_session import wait_until

pytestmark = [pytest.mark.e2e]

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def product(embedded_server) -> str:
    return embedded_server("web").base_url


def sign_in(browser, product):
    agent = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True).new_page()
    agent.goto(f"{product}/accounts/login/")
    agent.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
    agent.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
    agent.get_by_role("button", name=re.compile("Sign In", re.I)).click()
    agent.wait_for_url(f"{product}/o/acme/")
    return agent


def start_session(browser, product, agent):
    """The agent starts a session, the customer joins and shares; returns the customer's page once both pages'
    file channels are open."""
    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_label("Customer name (optional)").fill("Carl")
    agent.get_by_role("button", name="Start session").click()
    code = agent.locator("[data-copy]").first.get_attribute("data-copy")
    customer = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True).new_page()
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))
    for page in (agent, customer):
        wait_until(lambda page=page: page.locator("#files").get_attribute("data-channel") == "open", timeout=15)
    return customer


def stats(page) -> dict:
    return page.evaluate("() => ({...window.connectFiles.stats})")


def send_and_accept(sender, receiver, path, name):
    sender.set_input_files("#file-pick", str(path))
    incoming = receiver.locator("#files-list li.transfer.in", has_text=name)
    wait_until(lambda: incoming.get_attribute("data-state") == "offered")
    assert re.search(r"10 MB", incoming.inner_text())
    outgoing = sender.locator("#files-list li.transfer.out", has_text=name)
    assert "Waiting for" in outgoing.inner_text()
    incoming.get_by_role("button", name="Accept").click()
    wait_until(lambda: incoming.get_attribute("data-state") == "received", timeout=60)
    wait_until(lambda: outgoing.get_attribute("data-state") == "delivered", timeout=30)
    return outgoing, incoming


def test_a_10_mb_file_each_way_arrives_with_the_same_sha256(product, browser, screenshot, tmp_path):
    agent = sign_in(browser, product)
    customer = start_session(browser, product, agent)
    assert "up to 100 MB" in customer.locator("#files").inner_text()
    assert "up to 100 MB" in agent.locator("#files").inner_text()

    for sender, receiver, name in ((customer, agent, "customer-log.bin"), (agent, customer, "agent-fix.bin")):
        data = os.urandom(TEN_MB)
        path = tmp_path / name
        path.write_bytes(data)
        expected = hashlib.sha256(data).hexdigest()
        outgoing, incoming = send_and_accept(sender, receiver, path, name)
        # Both pages show the same SHA-256, hashlib's, and that it matches the other side's.
        assert outgoing.locator("code.sha256").inner_text() == expected
        assert incoming.locator("code.sha256").inner_text() == expected
        assert "matches" in incoming.inner_text() and "matches" in outgoing.inner_text()
        with receiver.expect_download() as download_info:
            incoming.get_by_role("link", name=re.compile(f"Download {re.escape(name)}")).click()
        download = download_info.value
        assert download.suggested_filename == name
        assert open(download.path(), "rb").read() == data

    assert stats(customer)["bytesSent"] == TEN_MB and stats(customer)["bytesReceived"] == TEN_MB
    assert stats(agent)["bytesSent"] == TEN_MB and stats(agent)["bytesReceived"] == TEN_MB
    screenshot("files-viewer-1366", agent)
    screenshot("files-customer-1000", customer)
    agent.set_viewport_size({"width": 1000, "height": 900})
    customer.set_viewport_size({"width": 1366, "height": 900})
    screenshot("files-viewer-1000", agent)
    screenshot("files-customer-1366", customer)
    # The session log records both transfers (name, size and hash are in its entries: signaling tests).
    agent.reload()
    log = agent.locator("#events").inner_text()
    assert log.count("File received") == 2 and log.count("File offered") == 2


def test_over_the_limit_is_refused_before_sending_and_a_declined_offer_sends_nothing(
    product, browser, screenshot, tmp_path
):
    agent = sign_in(browser, product)
    agent.goto(f"{product}/o/acme/settings/")
    agent.get_by_label("Largest file (MB)").fill("1")
    agent.get_by_role("button", name="Save file limit").click()
    assert agent.get_by_text("File transfer limit saved.").is_visible()
    assert "up to 1 MB" in agent.locator("#file-transfer").inner_text()
    screenshot("files-settings", agent)

    customer = start_session(browser, product, agent)
    assert "up to 1 MB" in customer.locator("#files").inner_text()
    big = tmp_path / "too-big.bin"
    big.write_bytes(os.urandom(1024 * 1024 + 1))
    agent.set_input_files("#file-pick", str(big))
    error = agent.locator("#files-error")
    wait_until(error.is_visible)
    assert "too-big.bin is 1,048,577 B" in error.inner_text() and "at most 1 MB" in error.inner_text()
    assert "Nothing was sent" in error.inner_text()
    assert agent.locator("#files-list li").count() == 0  # never offered
    customer.wait_for_timeout(1000)
    assert customer.locator("#files-list li").count() == 0

    small = tmp_path / "offer.bin"
    small.write_bytes(os.urandom(512 * 1024))
    customer.set_input_files("#file-pick", str(small))
    incoming = agent.locator("#files-list li.transfer.in", has_text="offer.bin")
    wait_until(lambda: incoming.get_attribute("data-state") == "offered")
    agent.wait_for_timeout(1000)  # an eager sender would have started by now
    assert stats(customer)["bytesSent"] == 0 and stats(agent)["bytesReceived"] == 0
    incoming.get_by_role("button", name="Decline").click()
    outgoing = customer.locator("#files-list li.transfer.out", has_text="offer.bin")
    wait_until(lambda: outgoing.get_attribute("data-state") == "declined")
    assert "declined: nothing was sent" in outgoing.inner_text()
    agent.wait_for_timeout(1000)
    assert stats(customer)["bytesSent"] == 0 and stats(customer)["chunksSent"] == 0
    assert stats(agent)["bytesReceived"] == 0
    assert incoming.get_by_role("link").count() == 0  # nothing to download
    screenshot("files-declined-viewer", agent)
    screenshot("files-declined-customer", customer)
    agent.reload()
    log = agent.locator("#events").inner_text()
    assert "File declined" in log and "File offered" in log and "File received" not in log
