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

from .desktop import HEIGHT, WIDTH, enroll, mouse_location, on_screen, running_agent, virtual_screen
from .servers import OWNER_EMAIL, OWNER_PASSWORD

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
            page.goto(f"{server.base_url}/accounts/login/")
            page.get_by_label(re.compile("Email", re.I)).fill(OWNER_EMAIL)
            page.get_by_label(re.compile("Password", re.I)).fill(OWNER_PASSWORD)
            page.get_by_role("button", name=re.compile("Sign In", re.I)).click()
            page.wait_for_url(f"{server.base_url}/o/acme/")

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
