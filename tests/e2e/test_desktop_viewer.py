"""The browser viewer controlling a machine: the agent clicks Connect in the machine list, sees the machine's screen
in Chromium, takes control, clicks and types on the picture, and moves text through the clipboard both ways; all of
it read back on the Xvfb screen the desktop agent runs on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from .desktop import HEIGHT, WIDTH, agent_command, enroll, mouse_location, on_screen, running_agent, virtual_screen
from .flows import sign_in, sign_in_and_start
from .servers import OWNER_EMAIL, OWNER_PASSWORD, REPO

pytestmark = [pytest.mark.e2e]


def wait_until(check, timeout=25.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_browser_viewer_controls_the_machine(embedded_server, browser, screenshot, tmp_path):
    server = embedded_server("web")
    status, signed_in = server.call(
        "POST",
        "/api/v1/auth/token",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "device": {"name": "e2e", "platform": "linux"}},
    )
    token = signed_in["access_token"]
    status, enrollment = server.call("POST", "/api/v1/machine-enrollment-tokens", {"name": "desk"}, token=token)
    assert status == 201
    config = tmp_path / "agent" / "config.json"
    enroll(server, enrollment["token"], config, name="reception-pc")
    machine_id = json.loads(config.read_text())["machine_id"]
    home = tmp_path / "home"
    home.mkdir()

    with virtual_screen(tmp_path / "logs") as display, running_agent(config, display, tmp_path / "logs", home=home):
        typed = tmp_path / "typed.txt"
        xterm = subprocess.Popen(
            ["xterm", "-geometry", "60x10+100+100", "-bg", "white", "-e", "sh", "-c", f"cat > {typed}"],
            env={**os.environ, "DISPLAY": display},
        )
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
            page = context.new_page()
            lines = []
            page.on("console", lambda m: lines.append(f"{m.type}: {m.text}"))
            sign_in(page, server.base_url)

            # The machine list shows it online (live), with a Connect button.
            page.goto(f"{server.base_url}/o/acme/machines/")
            row = page.locator("tr", has_text="reception-pc")
            wait_until(lambda: row.get_by_text("online").count() > 0 or page.reload() or False, what="online")
            screenshot("machines-online-1366", page)
            row.get_by_role("button", name="Connect").click()
            page.wait_for_url(re.compile(r"/o/acme/sessions/ses_"))

            panel = page.locator("#remote")
            panel.wait_for(state="visible", timeout=25000)
            assert wait_until(lambda: page.evaluate("() => document.getElementById('screen').videoWidth")) == WIDTH
            assert "Linux desktop agent · 1280×800" in panel.inner_text()
            assert page.locator("#request-control").is_hidden()  # the browser customer's note does not apply
            page.get_by_role("button", name="Take control").click()
            page.get_by_role("button", name="Stop controlling").wait_for(timeout=15000)
            wait_until(lambda: "You control the machine" in page.locator("#remote-status").inner_text(), what="grant")
            screenshot("viewer-machine-control-1366", page)

            # A click on the picture lands on the machine's pixel under it.
            box = page.locator("#screen").bounding_box()
            scale = min(box["width"] / WIDTH, box["height"] / HEIGHT)
            left = box["x"] + (box["width"] - WIDTH * scale) / 2
            top = box["y"] + (box["height"] - HEIGHT * scale) / 2
            target = (300, 160)  # inside the xterm
            page.mouse.click(left + (target[0] + 0.5) * scale, top + (target[1] + 0.5) * scale)
            wait_until(lambda: mouse_location(display) == target, what=f"the pointer at {target}")

            # Keys typed on the screen arrive in the window under the pointer.
            page.keyboard.type("Typed in Chromium!")
            page.keyboard.press("Enter")
            wait_until(lambda: typed.exists() and typed.read_text() == "Typed in Chromium!\n", what="typed text")

            # The clipboard both ways.
            page.locator("#clip-text").fill("from the browser")
            page.get_by_role("button", name="Send to machine").click()
            wait_until(lambda: "Sent 16 characters" in page.locator("#remote-status").inner_text(), what="sent")
            assert on_screen(display, "xclip", "-selection", "clipboard", "-o") == "from the browser"
            subprocess.run(
                ["xclip", "-selection", "clipboard", "-i"],
                input=b"from the machine",
                env={**os.environ, "DISPLAY": display},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=10,
            )
            page.get_by_role("button", name="Get machine’s clipboard").click()
            wait_until(lambda: page.locator("#clip-text").input_value() == "from the machine", what="clipboard back")

            # Stopping control: the picture stays, input stops.
            page.get_by_role("button", name="Stop controlling").click()
            page.mouse.click(left + 600 * scale, top + 600 * scale)
            time.sleep(1)
            assert mouse_location(display) == target

            page.set_viewport_size({"width": 1000, "height": 800})
            screenshot("viewer-machine-control-1000", page)
            assert not [line for line in lines if line.startswith("error")], lines
            context.close()
        finally:
            xterm.kill()
            xterm.wait()
    status, connections = server.call("GET", f"/api/v1/machines/{machine_id}/connections", token=token)
    assert status == 200 and [c["outcome"] for c in connections["results"]] == ["opened"]


def test_a_browser_customer_hands_the_session_to_the_attended_agent(embedded_server, browser, screenshot, tmp_path):
    """The agent asks for control of a browser customer; the customer downloads the one-time launcher from their
    page and runs it: the desktop agent joins that session, the viewer gets its screen and the control panel, and
    the customer's page says the agent has taken over. The launcher's ticket works once."""
    server = embedded_server("web")
    product = server.base_url
    agent = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    code = sign_in_and_start(agent, product)

    customer = browser.new_context(viewport={"width": 1000, "height": 800}, accept_downloads=True).new_page()
    customer.goto(f"{product}/join/{code}")
    customer.get_by_role("button", name="Continue").click()
    customer.get_by_role("button", name="Share my screen").click()
    wait_until(lambda: customer.locator("#sharing").is_visible(), what="sharing")
    wait_until(
        lambda: agent.evaluate("() => document.getElementById('screen').videoWidth"), what="the browser's screen"
    )

    agent.get_by_role("button", name="Request control").click()
    notice = customer.locator("#control-notice")
    notice.wait_for(state="visible")
    assert "Alice Agent asked to control your screen" in notice.inner_text()
    screenshot("customer-control-download-1000", customer)
    with customer.expect_download() as download_info:
        customer.get_by_role("button", name="Download for Linux or macOS").click()
    download = download_info.value
    assert download.suggested_filename == f"connect-attend-{code}.sh"
    launcher = open(download.path()).read()
    match = re.search(r"connect-agent attend --server (\S+) --ticket (att_\S+)", launcher)
    assert match and match.group(1) == product, launcher

    with virtual_screen(tmp_path / "logs") as display:
        log = open(tmp_path / "attend.log", "wb")
        attended = subprocess.Popen(
            agent_command("attend", "--server", match.group(1), "--ticket", match.group(2), "--yes"),
            cwd=REPO,
            env={**os.environ, "DISPLAY": display, "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            panel = agent.locator("#remote")
            panel.wait_for(state="visible", timeout=30000)
            wait_until(lambda: "Linux desktop agent · 1280×800" in panel.inner_text(), what="the machine's screen")
            assert wait_until(lambda: agent.evaluate("() => document.getElementById('screen').videoWidth")) == WIDTH
            handover = customer.locator("#handover-notice")
            wait_until(handover.is_visible, what="the customer's page handing over")
            assert customer.locator("#sharing-live").is_hidden()
            screenshot("customer-handed-over-1000", customer)

            # Chat both ways: a line typed at the agent's terminal reaches the viewer, and the viewer's reply prints.
            attended.stdin.write(b"Hello from the machine\n")
            attended.stdin.flush()
            wait_until(lambda: agent.get_by_text("Hello from the machine").count() > 0, what="the machine's chat")
            agent.get_by_label("Message").fill("I can see your screen")
            agent.locator("#chat-send").click()
            attend_log = tmp_path / "attend.log"
            wait_until(lambda: b"Alice Agent: I can see your screen" in attend_log.read_bytes(), what="chat printed")

            # The ticket was spent: the same launcher cannot join again.
            again = subprocess.run(
                agent_command("attend", "--server", product, "--ticket", match.group(2), "--yes"),
                cwd=REPO,
                capture_output=True,
                timeout=60,
            )
            assert again.returncode == 1 and b"used already or has expired" in again.stderr

            customer.get_by_role("button", name="End session").click()  # the customer can still end it
            attended.wait(30)
            wait_until(lambda: agent.locator("#summary").is_visible(), what="the viewer told the session ended")
            assert attended.returncode == 0
        finally:
            if attended.poll() is None:
                attended.kill()
                attended.wait()
            log.close()
            print((tmp_path / "attend.log").read_text())
    assert b"The session is over" in (tmp_path / "attend.log").read_bytes()
