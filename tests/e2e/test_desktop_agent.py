"""The desktop agent end to end, under Xvfb: enrolled with a real token, online in the machine list, its screen
received by an aiortc viewer, a click landing on the right pixel, typed text arriving in a window, the clipboard both
ways, 10 MB files both ways with the same SHA-256, and bad or flooding input refused without hurting the agent.

The viewer here is aiortc speaking the signaling protocol as the agent's viewer page does (bearer token, answer to
the machine's offer); the browser viewer is tests/e2e/test_desktop_viewer.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from .desktop import HEIGHT, WIDTH, enroll, mouse_location, on_screen, running_agent, virtual_screen
from .servers import Server, SignalingSocket
from .test_webrtc import sign_in

pytestmark = [pytest.mark.e2e]
WAIT = 20.0


async def until(predicate, seconds: float = WAIT, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate() if asyncio.iscoroutinefunction(predicate) else predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@dataclass
class Viewer:
    """The agent's side: the session socket and a peer connection answering the machine's latest offer (it offers
    again when the viewer comes online, so the first offer may be replaced)."""

    socket: SignalingSocket
    pc: RTCPeerConnection | None = None
    channels: dict[str, RTCDataChannel] = field(default_factory=dict)
    inbox: dict[str, asyncio.Queue] = field(default_factory=dict)
    frames: list = field(default_factory=list)
    signals: asyncio.Queue = field(default_factory=asyncio.Queue)
    offers: int = 0

    def send(self, label: str, message) -> None:
        self.channels[label].send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def receive(self, label: str, seconds: float = WAIT):
        data = await asyncio.wait_for(self.inbox[label].get(), seconds)
        return json.loads(data) if isinstance(data, str) else data

    async def expect_control(self, kind: str) -> dict:
        while True:
            message = await self.receive("control")
            if message.get("t") == kind:
                return message
            assert message.get("t") not in ("error",), message

    async def expect_control_error(self) -> dict:
        while True:
            message = await self.receive("control")
            if message.get("t") == "error":
                return message

    async def signal(self, kind: str, seconds: float = WAIT) -> dict:
        while True:
            message = await asyncio.wait_for(self.signals.get(), seconds)
            if message["type"] == kind:
                return message

    async def answer(self, sdp: str) -> None:
        if self.pc is not None:
            await self.pc.close()
        pc = self.pc = RTCPeerConnection()
        self.channels = {}
        self.inbox = {label: asyncio.Queue() for label in ("input", "control", "files")}
        self.offers += 1

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            self.channels[channel.label] = channel
            channel.on("message", self.inbox[channel.label].put_nowait)

        @pc.on("track")
        def on_track(track) -> None:
            async def pull() -> None:
                while True:
                    try:
                        self.frames.append(await track.recv())
                    except Exception:  # noqa: BLE001  the track ended
                        return
                    del self.frames[:-3]

            asyncio.ensure_future(pull())

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.socket.send({"type": "answer", "sdp": pc.localDescription.sdp})

    async def close(self) -> None:
        self.reader.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.socket.close()


async def open_viewer(server: Server, token: str, session_id: str) -> Viewer:
    socket = await SignalingSocket.connect(server.ws_url(f"/ws/v1/sessions/{session_id}"), origin=None, token=token)
    viewer = Viewer(socket=socket)

    async def read() -> None:
        while True:
            message = await socket.messages.get()
            if message["type"] == "offer":
                await viewer.answer(message["sdp"])
            else:
                viewer.signals.put_nowait(message)

    viewer.reader = asyncio.ensure_future(read())
    await until(lambda: viewer.offers, what="the machine's offer")
    await asyncio.sleep(1.0)  # a second offer (the machine saw the viewer come online) replaces the first
    await until(
        lambda: len(viewer.channels) == 3 and all(c.readyState == "open" for c in viewer.channels.values()),
        what="the three data channels open",
    )
    return viewer


def rgb_at(frame, x: int, y: int) -> tuple[int, int, int]:
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    offset = y * plane.line_size + x * 3
    data = bytes(plane)
    return data[offset], data[offset + 1], data[offset + 2]


async def send_file(viewer: Viewer, content: bytes, name: str) -> dict:
    """The viewer sends a file as the viewer page does (docs/signaling.md, "File transfer"); the machine's answer."""
    file_id = "f_" + secrets.token_hex(6)
    await viewer.socket.send({"type": "file.offer", "id": file_id, "name": name, "size": len(content)})
    accepted = await viewer.signal("file.accept")
    assert accepted["id"] == file_id
    files = viewer.channels["files"]
    files.send(json.dumps({"id": file_id, "start": True, "size": len(content)}))
    for offset in range(0, len(content), 16384):
        files.send(content[offset : offset + 16384])
        while files.bufferedAmount > 1 << 20:
            await asyncio.sleep(0.01)
    files.send(json.dumps({"id": file_id, "end": True}))
    await viewer.socket.send({"type": "file.done", "id": file_id, "sha256": hashlib.sha256(content).hexdigest()})
    return await viewer.signal("file.received", seconds=60)


async def fetch_file(viewer: Viewer, path: str) -> tuple[dict, bytes]:
    viewer.send("control", {"t": "file.get", "path": path})
    offer = await viewer.signal("file.offer")
    await viewer.socket.send({"type": "file.accept", "id": offer["id"]})
    received = bytearray()
    start = await viewer.receive("files")
    assert start == {"id": offer["id"], "start": True, "size": offer["size"]}
    while True:
        chunk = await viewer.receive("files")
        if isinstance(chunk, dict):
            assert chunk == {"id": offer["id"], "end": True}
            break
        received += chunk
    done = await viewer.signal("file.done")
    return {**offer, "sha256": done["sha256"]}, bytes(received)


async def test_the_desktop_agent_under_xvfb(embedded_server, tmp_path):
    server = embedded_server()
    token = await sign_in(server)
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    enrollment = await server.api("POST", "/api/v1/machine-enrollment-tokens", {"name": "lab"}, token=token, expect=201)
    config = tmp_path / "agent" / "config.json"
    printed = enroll(server, enrollment["token"], config)
    assert "Enrolled build-box in Acme Inc" in printed
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    machine_id = json.loads(config.read_text())["machine_id"]

    with (
        virtual_screen(tmp_path / "logs") as display,
        running_agent(config, display, tmp_path / "logs", home=home) as agent,
    ):
        # Online in the machine list, through the shared presence the machine socket keeps.
        async def online():
            return (await server.api("GET", f"/api/v1/machines/{machine_id}", token=token))["online"]

        await until(online, what="the machine online")
        listed = await server.api("GET", "/api/v1/machines", token=token)
        assert [(m["id"], m["online"]) for m in listed["results"]] == [(machine_id, True)]

        # A window to type into: xterm writing what it reads to a file, at a known place on the screen.
        typed = tmp_path / "typed.txt"
        xterm = await asyncio.create_subprocess_exec(
            "xterm", "-geometry", "60x10+100+100", "-bg", "white", "-e", "sh", "-c", f"cat > {typed}",
            env={**os.environ, "DISPLAY": display},
        )  # fmt: skip
        await until(
            lambda: on_screen(display, "xdotool", "search", "--class", "xterm", check=False).strip(), what="xterm"
        )

        session = await server.api("POST", f"/api/v1/machines/{machine_id}/sessions", {}, token=token, expect=201)
        viewer = await open_viewer(server, token, session["id"])
        try:
            screen = await viewer.expect_control("screen")
            assert (screen["width"], screen["height"], screen["os"]) == (WIDTH, HEIGHT, "linux")
            assert screen["monitors"] == [{"index": 1, "width": WIDTH, "height": HEIGHT, "primary": True}]
            assert screen["capabilities"] == {"input": True, "clipboard": True, "sas": True, "files": True}

            # Its screen: the white xterm where it is, the black root elsewhere.
            await until(lambda: viewer.frames, what="a video frame")
            frame = viewer.frames[-1]
            assert (frame.width, frame.height) == (WIDTH, HEIGHT)
            await until(lambda: min(rgb_at(viewer.frames[-1], 300, 150)) > 200, what="the white xterm in the picture")
            assert max(rgb_at(viewer.frames[-1], 1200, 700)) < 40

            # Input before control is granted goes nowhere.
            viewer.send("input", {"t": "move", "x": 10, "y": 10})
            assert (await viewer.receive("input"))["code"] == "control_not_granted"
            await viewer.socket.send({"type": "control.request"})
            await viewer.signal("control.grant")
            await asyncio.sleep(1.1)  # errors are reported at most once a second

            # A click lands on the right pixel, and typed text arrives in the window under it.
            viewer.send("input", {"t": "move", "x": 321, "y": 187})
            viewer.send("input", {"t": "button", "button": "left", "down": True, "x": 321, "y": 187})
            viewer.send("input", {"t": "button", "button": "left", "down": False, "x": 321, "y": 187})
            await until(lambda: mouse_location(display) == (321, 187), what="the pointer at (321, 187)")
            viewer.send("input", {"t": "text", "text": "Hello, Connect! 42\n"})
            for key in ("o", "k"):
                viewer.send("input", {"t": "key", "key": key, "down": True})
                viewer.send("input", {"t": "key", "key": key, "down": False})
            viewer.send("input", {"t": "key", "key": "Enter", "down": True})
            viewer.send("input", {"t": "key", "key": "Enter", "down": False})
            await until(lambda: typed.exists() and typed.read_text() == "Hello, Connect! 42\nok\n", what="typed text")

            # Out of range and malformed: refused, and nothing moves.
            viewer.send("input", {"t": "move", "x": WIDTH, "y": 5})
            assert (await viewer.receive("input"))["code"] == "out_of_range"
            await asyncio.sleep(1.1)
            viewer.send("input", {"t": "button", "button": "left", "down": True, "x": -1, "y": 5})
            assert (await viewer.receive("input"))["code"] == "out_of_range"
            assert mouse_location(display) == (321, 187)

            # A flood: far past the rate, answered by a few rate_limited errors (not one per event), and survived.
            await asyncio.sleep(1.1)
            for _ in range(3000):
                viewer.send("input", {"t": "move", "x": 5, "y": 5})
            viewer.send("input", "not json at all" * 400)
            errors = []
            while True:
                try:
                    errors.append(await viewer.receive("input", seconds=2))
                except TimeoutError:
                    break
            assert errors and {e["code"] for e in errors} <= {"rate_limited", "invalid"} and len(errors) < 10
            assert agent.poll() is None
            await asyncio.sleep(2.5)  # the bucket refills
            viewer.send("input", {"t": "move", "x": 640, "y": 400})
            await until(lambda: mouse_location(display) == (640, 400), what="input working after the flood")

            # The clipboard, both ways.
            viewer.send("control", {"t": "clipboard", "text": "copied on the viewer ✓"})
            await viewer.expect_control("clipboard.set")
            assert on_screen(display, "xclip", "-selection", "clipboard", "-o") == "copied on the viewer ✓"
            subprocess.run(  # xclip stays behind as the owner: it must not hold a pipe of ours
                ["xclip", "-selection", "clipboard", "-i"],
                input=b"copied on the machine",
                env={**os.environ, "DISPLAY": display},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=True,
            )
            viewer.send("control", {"t": "clipboard.get"})
            assert (await viewer.expect_control("clipboard"))["text"] == "copied on the machine"

            # 10 MB to the machine, and 10 MB back, each with the same SHA-256 at both ends.
            content = os.urandom(10 * 1024 * 1024)
            received = await send_file(viewer, content, "report.bin")
            assert received["sha256"] == hashlib.sha256(content).hexdigest()
            landed = home / "Downloads" / "Connect" / "report.bin"
            assert landed.read_bytes() == content
            outgoing = os.urandom(10 * 1024 * 1024)
            (home / "Documents" / "logs.tar").write_bytes(outgoing)
            offer, fetched = await fetch_file(viewer, "Documents/logs.tar")
            assert (offer["name"], offer["size"]) == ("logs.tar", len(outgoing))
            assert fetched == outgoing and offer["sha256"] == hashlib.sha256(outgoing).hexdigest()
            viewer.send("control", {"t": "file.get", "path": "/etc/passwd"})  # outside what may be fetched
            assert (await viewer.expect_control_error())["code"] == "not_allowed"

            events = await server.api("GET", f"/api/v1/sessions/{session['id']}/events", token=token)
            kinds = [e["type"] for e in events]
            assert {"file_sent", "file_received"} <= set(kinds)
            assert agent.poll() is None
        finally:
            await viewer.socket.send({"type": "end"})
            await viewer.close()
            xterm.kill()
            await xterm.wait()

        # The agent stays online for the next session; removing the machine takes it off for good.
        await until(online, what="the machine still online after the session")
        await server.api("DELETE", f"/api/v1/machines/{machine_id}", token=token, expect=204)
        await until(lambda: agent.poll() is not None, what="the agent to exit when removed")
        assert agent.returncode == 3


async def test_the_person_at_the_machine_is_asked_when_the_policy_says_so(embedded_server, tmp_path):
    """A group that requires consent: the agent asks the person at the machine (here through the configured
    consent command), naming who asks; a no declines the session, a yes lets the viewer in."""
    server = embedded_server()
    token = await sign_in(server)
    enrollment = await server.api(
        "POST", "/api/v1/machine-enrollment-tokens", {"name": "kiosk"}, token=token, expect=201
    )
    config = tmp_path / "agent" / "config.json"
    enroll(server, enrollment["token"], config, name="kiosk-1")
    machine_id = json.loads(config.read_text())["machine_id"]
    group_id = (await server.api("GET", f"/api/v1/machines/{machine_id}", token=token))["group"]["id"]
    await server.api("PATCH", f"/api/v1/machine-groups/{group_id}", {"require_consent": True}, token=token)
    questions, allow = tmp_path / "questions.log", tmp_path / "allow"
    script = tmp_path / "ask.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {questions}\ntest -e {allow}\n')
    script.chmod(0o755)
    stored = json.loads(config.read_text())
    config.write_text(json.dumps({**stored, "consent_command": str(script)}))
    config.chmod(0o600)

    with virtual_screen(tmp_path / "logs") as display, running_agent(config, display, tmp_path / "logs", home=tmp_path):

        async def online():
            return (await server.api("GET", f"/api/v1/machines/{machine_id}", token=token))["online"]

        await until(online, what="the machine online")
        refused = await server.api("POST", f"/api/v1/machines/{machine_id}/sessions", {}, token=token, expect=201)

        async def status(session_id):
            return (await server.api("GET", f"/api/v1/sessions/{session_id}", token=token))["status"]

        async def declined():
            return await status(refused["id"]) == "declined"

        await until(declined, what="the session declined")
        assert questions.read_text() == "Alice Agent of Acme Inc asks to see and control this computer. Allow?\n"

        allow.touch()
        session = await server.api("POST", f"/api/v1/machines/{machine_id}/sessions", {}, token=token, expect=201)
        viewer = await open_viewer(server, token, session["id"])
        try:
            await until(lambda: viewer.frames, what="the screen after a yes")
            assert await status(session["id"]) == "active"
        finally:
            await viewer.close()
