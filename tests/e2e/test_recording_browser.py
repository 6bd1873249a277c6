"""Recording a support session in the agent's browser, into a real S3 endpoint (moto's server mode), and playing it
back from a presigned URL (issue 15).

An admin makes recording optional; the customer is told before consenting; the agent records the shared screen with
MediaRecorder while the chunks upload; the customer sees the indicator while it runs; the assembled WebM lands in the
bucket (the chunks are gone), and the playback page plays it from the bucket beside the session's log and chat.
Screenshots at 1366 and 1000 px wide."""

from __future__ import annotations

import re
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .flows import sign_in
from .test_browser_session import console, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e]

BUCKET = "connect-e2e-recordings"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:01:00.000\nWhich printer shows the error?\n"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def bucket():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS)
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, client
    server.stop()


def recorded_product(embedded_server, endpoint: str) -> str:
    """The product on embedded defaults, keeping its recordings in the test's bucket."""
    return embedded_server(
        "web",
        CONNECT_RECORDINGS_S3_BUCKET=BUCKET,
        CONNECT_RECORDINGS_S3_ENDPOINT_URL=endpoint,
        CONNECT_RECORDINGS_S3_REGION="us-east-1",
        CONNECT_RECORDINGS_S3_ACCESS_KEY_ID=KEYS["aws_access_key_id"],
        CONNECT_RECORDINGS_S3_SECRET_ACCESS_KEY=KEYS["aws_secret_access_key"],
        CONNECT_RECORDINGS_S3_ADDRESSING_STYLE="path",
    ).base_url


def keys(client) -> list[tuple[str, int]]:
    return sorted((o["Key"], o["Size"]) for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_agent_records_into_s3_and_plays_it_back(embedded_server, browser, bucket, screenshot, console):  # noqa: F811
    endpoint, s3 = bucket
    product = recorded_product(embedded_server, endpoint)
    agent = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    sign_in(agent, product)

    agent.goto(f"{product}/o/acme/settings/")
    agent.get_by_label(re.compile("Optional: the agent may record")).check()
    agent.get_by_role("button", name="Save recording policy").click()
    assert agent.get_by_text("Recording policy saved.").is_visible()

    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_label("Customer name (optional)").fill("Carl")
    agent.get_by_role("button", name="Start session").click()
    code = agent.locator("[data-copy]").first.get_attribute("data-copy")

    customer = browser.new_context(viewport={"width": 1000, "height": 760}).new_page()
    customer.on("console", lambda m: console.append(("customer", m.type, m.text)))
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    assert customer.get_by_text("The agent may record this session for Acme Inc").is_visible()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"))

    record = agent.get_by_role("button", name="Start recording")
    wait_until(lambda: record.is_enabled())
    record.click()
    wait_until(lambda: customer.locator("#recording-indicator").is_visible())
    assert agent.locator("#rec-badge").is_visible()
    customer.get_by_label("Message").fill("Recording is fine with me")
    customer.get_by_role("button", name="Send", exact=True).click()
    wait_until(lambda: "3 parts saved" in agent.locator("#rec-status").inner_text(), timeout=30)
    screenshot("viewer-recording-1366", agent)
    screenshot("customer-recorded-1000", customer)
    while_recording = keys(s3)
    assert len(while_recording) >= 3  # the chunks are in the bucket while it records: a closed tab keeps them

    agent.get_by_role("button", name="Stop recording").click()
    wait_until(lambda: "Recording saved" in agent.locator("#rec-status").inner_text(), timeout=30)
    wait_until(lambda: customer.locator("#recording-indicator").is_hidden())
    stored = wait_until(lambda: (found := keys(s3)) and len(found) == 1 and found)  # chunks deleted once assembled
    key, size = stored[0]
    assert key.endswith(".webm") and size > 10_000
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body[:4] == b"\x1a\x45\xdf\xa3"  # a WebM (EBML) file, whole

    agent.get_by_role("link", name="Play it back").click()
    agent.wait_for_url(re.compile(r"/recordings/rec_[^/]+/$"))
    source = agent.locator("#playback").get_attribute("src")
    assert source.startswith(endpoint) and "X-Amz-Signature" in source  # straight from the bucket, presigned
    agent.evaluate("() => { const v = document.getElementById('playback'); v.muted = true; v.play(); }")
    wait_until(lambda: agent.evaluate("() => document.getElementById('playback').videoWidth") > 0)
    time.sleep(1.0)
    assert agent.evaluate("() => document.getElementById('playback').currentTime") > 0
    assert "Recording is fine with me" in agent.locator(".chat-panel").inner_text()
    assert "Recording started" in agent.locator("#events").inner_text()
    # A transcript attached to it follows the playhead beside the video.
    recording_id = agent.url.rstrip("/").rsplit("/", 1)[-1]
    status = agent.evaluate(
        """async ([id, vtt]) => (await fetch(`/api/v1/recordings/${id}/transcript`, {
            method: "PUT", credentials: "same-origin",
            headers: {"Content-Type": "application/json",
                      "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value},
            body: JSON.stringify({vtt})})).status""",
        [recording_id, VTT],
    )
    assert status == 200
    agent.reload()
    agent.evaluate("() => { const v = document.getElementById('playback'); v.muted = true; v.play(); }")
    current = wait_until(
        lambda: agent.evaluate("() => document.querySelector('#transcript li[aria-current]')?.textContent || ''")
    )
    assert "printer" in current
    screenshot("recording-playback-1366", agent)
    agent.set_viewport_size({"width": 1000, "height": 800})
    screenshot("recording-playback-1000", agent)
    assert not [text for _page, _kind, text in console if "Content Security Policy" in text]


def test_a_mandatory_policy_records_every_session_from_its_first_picture(
    embedded_server,
    browser,
    bucket,
    console,  # noqa: F811
):
    endpoint, s3 = bucket
    product = recorded_product(embedded_server, endpoint)
    agent = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    agent.on("console", lambda m: console.append(("agent", m.type, m.text)))
    sign_in(agent, product)
    agent.goto(f"{product}/o/acme/settings/")
    agent.get_by_label(re.compile("Mandatory: every session is recorded")).check()
    agent.get_by_role("button", name="Save recording policy").click()

    agent.goto(f"{product}/o/acme/sessions/")
    agent.get_by_role("button", name="Start session").click()
    code = agent.locator("[data-copy]").first.get_attribute("data-copy")
    customer = browser.new_context(viewport={"width": 1000, "height": 760}).new_page()
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    assert customer.get_by_text("Acme Inc records this session").is_visible()
    customer.get_by_role("button", name="Share my screen").click()

    # Nobody pressed anything: the recording starts with the picture, and both sides see it.
    wait_until(lambda: agent.locator("#rec-badge").is_visible(), timeout=30)
    wait_until(lambda: customer.locator("#recording-indicator").is_visible())
    assert agent.locator("#record").is_hidden()  # a mandatory recording cannot be stopped by the agent
    wait_until(lambda: "2 parts saved" in agent.locator("#rec-status").inner_text(), timeout=30)

    agent.get_by_role("button", name="End session").click()
    agent.get_by_role("button", name="End for both of us").click()
    stored = wait_until(lambda: [k for k, _size in keys(s3) if k.endswith(".webm")], timeout=30)
    assert len(stored) == 1  # the end of the session completed it
