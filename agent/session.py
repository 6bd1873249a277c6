"""One support session, with the agent as its customer: consent, the screen, remote control, clipboard, files, chat.

The agent speaks the signaling protocol of docs/signaling.md on the session socket, authenticated by the customer
token it was given (``Authorization: Customer``), and does what the customer's page does: it consents (asking the
person at the machine first when the policy says so), then offers a peer connection carrying the screen and three
data channels:

- ``input``: pointer and keyboard events from the viewer, validated by :mod:`agent.remote_input`, injected only
  while control is granted;
- ``control``: the monitors and the switch between them, the clipboard both ways, Ctrl+Alt+Del, fetching a file;
- ``files``: file bytes (:mod:`agent.transfer`).

The protocol of ``input`` and ``control`` is docs/remote-control.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent import __version__
from agent.desktop_worker import DesktopWorker, ScreenTrack
from agent.platforms import Desktop, desktop, os_name
from agent.remote_input import InputGate, InputRefused
from agent.transfer import TransferRefused, Transfers

log = logging.getLogger("connect-agent")

FINAL = {"ended", "declined", "expired"}
CLOSE_FINAL = {4403, 4404, 4410, 4401}
MAX_CLIPBOARD = 100_000
MAX_CONTROL_FRAME = 200_000
RECONNECT_FOR = 55.0  # the server's grace period is 60 s: give up a little before it ends the session anyway


@dataclass
class SessionRequest:
    server: str  # https://host
    session_id: str
    customer_token: str
    ice_servers: list[dict] = field(default_factory=list)
    consent_required: bool = False
    agent_name: str = ""
    organization: str = ""
    file_max_bytes: int = 100 * 1024 * 1024


def websocket_url(server: str, path: str) -> str:
    base = server.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + path
    raise ValueError(f"the server address must start with https:// or http:// (got {server!r})")


def rtc_configuration(ice_servers: list[dict]) -> RTCConfiguration:
    servers = []
    for server in ice_servers:
        urls = server.get("urls")
        if urls:
            servers.append(
                RTCIceServer(urls=urls, username=server.get("username"), credential=server.get("credential"))
            )
    return RTCConfiguration(iceServers=servers)


Consent = Callable[[str], Awaitable[bool]]


class SessionRunner:
    def __init__(
        self,
        request: SessionRequest,
        *,
        consent: Consent,
        files_dir: Path,
        files_root: Path,
        desktop_factory: Callable[[], Desktop] = desktop,
        fps: float = 10.0,
        on_chat: Callable[[dict], None] | None = None,
        chat_from: TextIO | None = None,
    ) -> None:
        self.request = request
        self.consent = consent
        self.worker = DesktopWorker(desktop_factory)
        self.fps = fps
        self.on_chat = on_chat or (lambda m: log.info("chat from %s: %s", m.get("name"), m.get("text")))
        self.socket = None
        self.status = ""
        self.last_seq = 0
        self.heartbeat = 20
        self.pc: RTCPeerConnection | None = None
        self.channels: dict[str, Any] = {}
        self.pending_candidates: list[dict] = []
        self.control_granted = False
        self.consent_given = False
        self.gate = InputGate()
        self.end_reason = ""
        self.transfers = Transfers(
            send=self.send,
            channel=lambda: self.channels.get("files"),
            files_dir=files_dir,
            files_root=files_root,
            max_bytes=request.file_max_bytes,
            log=log.info,
        )
        self._serial = asyncio.Lock()
        self.chat_from = chat_from  # attended: lines typed here go to the agent as chat
        self._chat_reader: threading.Thread | None = None

    # --- the session socket --------------------------------------------------------------------------------

    async def send(self, message: dict) -> None:
        if self.socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.socket.send(json.dumps(message))

    async def run(self) -> str:
        """Until the session ends; returns its end reason (or why the agent left)."""
        try:
            await self.worker.start()
        except Exception as exc:  # noqa: BLE001  no display: say so to the agent, and leave the session
            log.error("cannot share this screen: %s", exc)
            return await self._leave_without_screen(str(exc))
        try:
            return await self._run_socket()
        finally:
            await self._close_peer()
            self.transfers.close()
            await self.worker.close()

    async def _leave_without_screen(self, why: str) -> str:
        url = websocket_url(self.request.server, f"/ws/v1/sessions/{self.request.session_id}")
        with contextlib.suppress(OSError, ConnectionClosed, InvalidStatus, asyncio.TimeoutError):
            async with ws_connect(url, additional_headers=self._headers(), open_timeout=10) as socket:
                self.socket = socket
                await socket.recv()
                await self.send({"type": "consent.decline"})
        return "no_display"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Customer {self.request.customer_token}",
            "User-Agent": f"connect-agent/{__version__} ({os_name()})",
        }

    async def _run_socket(self) -> str:
        url = websocket_url(self.request.server, f"/ws/v1/sessions/{self.request.session_id}")
        loop = asyncio.get_running_loop()
        give_up_at = None
        attempt = 0
        while True:
            try:
                async with ws_connect(url, additional_headers=self._headers(), open_timeout=10, max_size=2**20) as ws:
                    self.socket = ws
                    give_up_at, attempt = None, 0
                    pinger = asyncio.create_task(self._ping())
                    try:
                        async for raw in ws:
                            if isinstance(raw, str):
                                await self._dispatch(json.loads(raw))
                            if self.status in FINAL:
                                return self.end_reason or self.status
                    finally:
                        pinger.cancel()
                    if ws.close_code in CLOSE_FINAL:
                        return self.end_reason or f"closed_{ws.close_code}"
            except InvalidStatus as exc:
                return f"refused_{exc.response.status_code}"
            except (TimeoutError, OSError, ConnectionClosed) as exc:
                log.warning("session socket dropped (%s); reconnecting", exc)
            finally:
                self.socket = None
            if self.status in FINAL:
                return self.end_reason or self.status
            give_up_at = give_up_at or loop.time() + RECONNECT_FOR
            if loop.time() > give_up_at:
                return "disconnected"
            attempt += 1
            await asyncio.sleep(min(8.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2))  # noqa: S311

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.send({"type": "ping"})

    async def _dispatch(self, message: dict) -> None:
        kind = message.get("type")
        seq = message.get("seq")
        if type(seq) is int and kind not in ("hello", "resync"):
            self.last_seq = max(self.last_seq, seq)
        async with self._serial:
            handler = HANDLERS.get(kind)
            if handler is not None:
                await handler(self, message)

    async def _on_hello(self, message: dict) -> None:
        self.heartbeat = max(5, int(message.get("heartbeat_seconds") or 20))
        if self.last_seq:
            await self.send({"type": "resume", "last_seq": self.last_seq})
        await self._apply_status(message["session"]["status"], reconnected=True)

    async def _on_state(self, message: dict) -> None:
        self.end_reason = message.get("end_reason") or self.end_reason
        await self._apply_status(message["status"])

    async def _apply_status(self, status: str, *, reconnected: bool = False) -> None:
        before, self.status = self.status, status
        if status == "consent_requested" and not self.consent_given:
            await self._ask_consent()
        elif status == "active" and (before != "active" or reconnected):
            self.consent_given = True
            self._start_chat_reader()
            await self._offer()
        elif status in FINAL:
            log.info("the session ended (%s)", self.end_reason or status)

    async def _ask_consent(self) -> None:
        who = self.request.agent_name or "An agent"
        where = f" of {self.request.organization}" if self.request.organization else ""
        allowed = True
        if self.request.consent_required:
            allowed = await self.consent(f"{who}{where} asks to see and control this computer. Allow?")
        self.consent_given = allowed
        await self.send({"type": "consent.grant" if allowed else "consent.decline"})

    def _start_chat_reader(self) -> None:
        """Read chat lines from ``chat_from`` in a daemon thread (a blocked read must not keep the process alive
        when the session ends), each sent as ``chat`` while the session is active."""
        if self.chat_from is None or self._chat_reader is not None:
            return
        loop = asyncio.get_running_loop()

        def read() -> None:
            for line in self.chat_from:
                text = line.strip()[:2000]
                if text:
                    asyncio.run_coroutine_threadsafe(self._send_chat(text), loop)

        self._chat_reader = threading.Thread(target=read, name="chat-input", daemon=True)
        self._chat_reader.start()

    async def _send_chat(self, text: str) -> None:
        if self.status == "active":
            await self.send({"type": "chat", "text": text})

    async def _on_peer(self, message: dict) -> None:
        if message.get("role") == "agent" and message.get("online") and self.status == "active":
            await self._offer()

    async def _on_resync(self, message: dict) -> None:
        if self.status == "active":
            await self._offer()

    async def _on_answer(self, message: dict) -> None:
        if self.pc is None or self.pc.signalingState != "have-local-offer":
            return
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        for candidate in self.pending_candidates:
            await self._add_candidate(candidate)
        self.pending_candidates.clear()

    async def _on_ice(self, message: dict) -> None:
        candidate = message.get("candidate")
        if not candidate or self.pc is None:
            return
        if self.pc.remoteDescription is None:
            self.pending_candidates.append(candidate)
        else:
            await self._add_candidate(candidate)

    async def _add_candidate(self, init: dict) -> None:
        text = str(init.get("candidate") or "")
        if not text:
            return
        try:
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            candidate.sdpMid = init.get("sdpMid")
            candidate.sdpMLineIndex = init.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)
        except (ValueError, IndexError) as exc:
            log.debug("ICE candidate refused: %s", exc)

    async def _on_control_request(self, message: dict) -> None:
        # Consent to the session was consent to be controlled: the policy or the person at the machine gave it.
        self.control_granted = self.consent_given and self.worker.desktop is not None
        await self.send({"type": "control.grant" if self.control_granted else "control.deny"})
        self._control_send(self._screen_message())

    async def _on_chat(self, message: dict) -> None:
        if message.get("from") == "agent":
            self.on_chat(message)

    async def _on_file_offer(self, message: dict) -> None:
        if message.get("from") == "agent":
            await self.transfers.on_offer(message)

    async def _on_file_accept(self, message: dict) -> None:
        self.transfers.on_answer(message, True)

    async def _on_file_decline(self, message: dict) -> None:
        self.transfers.on_answer(message, False)

    async def _on_file_cancel(self, message: dict) -> None:
        self.transfers.on_cancel(message)

    async def _on_file_done(self, message: dict) -> None:
        if message.get("from") == "agent":
            await self.transfers.on_done(message)

    async def _on_error(self, message: dict) -> None:
        log.warning("the server refused a message: %s (%s)", message.get("code"), message.get("message"))

    # --- the peer connection -------------------------------------------------------------------------------

    async def _close_peer(self) -> None:
        pc, self.pc = self.pc, None
        self.channels = {}
        if pc is not None:
            await pc.close()

    async def _offer(self) -> None:
        """A new peer connection and offer (aiortc cannot restart ICE: a new connection serves instead)."""
        await self._close_peer()
        pc = self.pc = RTCPeerConnection(rtc_configuration(self.request.ice_servers))
        self.pending_candidates = []
        for label in ("input", "control", "files"):
            channel = pc.createDataChannel(label, ordered=True)
            self.channels[label] = channel
        self.channels["input"].on("message", self._on_input)
        self.channels["control"].on("message", lambda data: asyncio.ensure_future(self._on_control(data)))
        self.channels["control"].on("open", lambda: self._control_send(self._screen_message()))
        self.channels["files"].on("message", self.transfers.on_channel_message)
        pc.addTrack(ScreenTrack(self.worker, fps=self.fps))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("peer connection %s", pc.connectionState)
            if pc is self.pc and pc.connectionState == "failed" and self.status == "active":
                await self._offer()

        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate: nothing to trickle
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        await self.send({"type": "media", "state": "sharing"})

    def _control_send(self, message: dict) -> None:
        channel = self.channels.get("control")
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    def _screen_message(self) -> dict:
        desktop_ = self.worker.desktop
        monitor = self.worker.monitor
        return {
            "t": "screen",
            "monitors": [m.as_dict() for m in self.worker.monitors],
            "monitor": monitor.index if monitor else None,
            "width": monitor.width if monitor else 0,
            "height": monitor.height if monitor else 0,
            "os": os_name(),
            "control": self.control_granted,
            "capabilities": {
                "input": bool(desktop_ and desktop_.can_inject),
                "clipboard": bool(desktop_ and desktop_.can_clipboard),
                "sas": bool(desktop_ and desktop_.can_sas),
                "files": True,
            },
        }

    def _input_error(self, channel_label: str, code: str, message: str) -> None:
        if self.gate.should_report():
            channel = self.channels.get(channel_label)
            if channel is not None and channel.readyState == "open":
                channel.send(json.dumps({"t": "error", "code": code, "message": message}))

    def _on_input(self, data: Any) -> None:
        monitor = self.worker.monitor
        if not self.control_granted or monitor is None or not self.worker.desktop.can_inject:
            self.gate.refused += 1
            self._input_error("input", "control_not_granted", "control is not granted: send control.request")
            return
        try:
            event = self.gate.admit(data, width=monitor.width, height=monitor.height)
        except InputRefused as refused:
            self._input_error("input", refused.code, refused.message)
            return
        asyncio.ensure_future(self._inject(event, monitor))

    async def _inject(self, event, monitor) -> None:
        try:
            await self.worker.call(self.worker.desktop.inject, event, monitor)
        except Exception as exc:  # noqa: BLE001  one event the desktop could not take must not end the session
            log.warning("input %s not injected: %s", event.kind, exc)

    async def _on_control(self, data: Any) -> None:
        try:
            if not isinstance(data, str) or len(data) > MAX_CONTROL_FRAME:
                raise InputRefused("invalid", "control messages are JSON text of at most 200 KB")
            try:
                message = json.loads(data)
            except ValueError:
                raise InputRefused("invalid", "not JSON") from None
            if not isinstance(message, dict):
                raise InputRefused("invalid", "a control message is a JSON object")
            await self._control(message)
        except (InputRefused, TransferRefused) as refused:
            self._control_send({"t": "error", "code": refused.code, "message": refused.message})
        except NotImplementedError as exc:
            self._control_send({"t": "error", "code": "unsupported", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001  a clipboard tool that hangs, a file that vanished: say so, go on
            log.warning("control message failed: %r", exc)
            self._control_send({"t": "error", "code": "failed", "message": str(exc) or type(exc).__name__})

    async def _control(self, message: dict) -> None:
        kind = message.get("t")
        if kind == "screen":
            self._control_send(self._screen_message())
            return
        if not self.control_granted:
            raise InputRefused("control_not_granted", "control is not granted: send control.request")
        desktop_ = self.worker.desktop
        if kind == "monitor":
            index = message.get("index")
            if type(index) is not int:
                raise InputRefused("invalid", "index is a monitor's number")
            try:
                self.worker.select(index)
            except ValueError as exc:
                raise InputRefused("out_of_range", str(exc)) from None
            self._control_send(self._screen_message())
        elif kind == "clipboard":
            text = message.get("text")
            if not isinstance(text, str) or len(text) > MAX_CLIPBOARD or "\x00" in text:
                raise InputRefused("invalid", f"text is at most {MAX_CLIPBOARD} characters")
            await self.worker.call(desktop_.clipboard_set, text)
            self._control_send({"t": "clipboard.set", "length": len(text)})
        elif kind == "clipboard.get":
            text = await self.worker.call(desktop_.clipboard_get)
            self._control_send({"t": "clipboard", "text": text[:MAX_CLIPBOARD]})
        elif kind == "sas":
            await self.worker.call(desktop_.send_sas)
            self._control_send({"t": "sas", "sent": True})
        elif kind == "file.get":
            path = self.transfers.resolve(message.get("path"))
            await self.transfers.offer(path)
        else:
            raise InputRefused("invalid", "t is screen, monitor, clipboard, clipboard.get, sas or file.get")


HANDLERS: dict[str, Callable[[SessionRunner, dict], Awaitable[None]]] = {
    "hello": SessionRunner._on_hello,
    "state": SessionRunner._on_state,
    "peer": SessionRunner._on_peer,
    "resync": SessionRunner._on_resync,
    "answer": SessionRunner._on_answer,
    "ice": SessionRunner._on_ice,
    "control.request": SessionRunner._on_control_request,
    "chat": SessionRunner._on_chat,
    "file.offer": SessionRunner._on_file_offer,
    "file.accept": SessionRunner._on_file_accept,
    "file.decline": SessionRunner._on_file_decline,
    "file.cancel": SessionRunner._on_file_cancel,
    "file.done": SessionRunner._on_file_done,
    "error": SessionRunner._on_error,
}
