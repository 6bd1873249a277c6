"""The machine socket (docs/signaling.md, "The machine socket"): online while it is open, sessions when asked.

The agent proves its machine by signing the server's challenge with the key made at enrollment, keeps a heartbeat,
and reconnects with exponential backoff and jitter (1 s doubling to a minute, reset once a connection has lasted a
minute) whenever the connection drops or the server is away. A removed machine is told so and the agent exits with
:data:`EXIT_REMOVED`, which the systemd unit does not restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent import __version__
from agent.config import AgentConfig
from agent.platforms import Desktop, desktop, os_name
from agent.session import Consent, SessionRequest, SessionRunner, websocket_url

log = logging.getLogger("connect-agent")

EXIT_REMOVED = 3
CLOSE_AUTH = 4401
CLOSE_REMOVED = 4403
BACKOFF_MAX = 60.0
STABLE_AFTER = 60.0


class MachineRemoved(Exception):
    pass


class MachineClient:
    def __init__(
        self,
        config: AgentConfig,
        *,
        consent: Consent,
        files_dir: Path,
        files_root: Path,
        desktop_factory: Callable[[], Desktop] = desktop,
        fps: float = 10.0,
    ) -> None:
        self.config = config
        self.consent = consent
        self.files_dir, self.files_root = files_dir, files_root
        self.desktop_factory = desktop_factory
        self.fps = fps
        self.sessions: dict[str, asyncio.Task] = {}
        self.backoff_sleep = asyncio.sleep  # the tests watch the delays here
        self.online = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            opened = loop.time()
            try:
                await self._connection()
            except MachineRemoved:
                log.error("this machine was removed from its organization: enroll it again to reconnect")
                return EXIT_REMOVED
            except InvalidStatus as exc:
                log.warning("the server refused the machine socket (HTTP %s)", exc.response.status_code)
            except (TimeoutError, OSError, ConnectionClosed, ValueError) as exc:
                log.warning("machine socket: %s", exc or type(exc).__name__)
            self.online.clear()
            failures = 0 if loop.time() - opened > STABLE_AFTER else failures + 1
            delay = min(BACKOFF_MAX, 2 ** max(0, failures - 1)) * (0.5 + random.random() / 2)  # noqa: S311
            log.info("reconnecting in %.1f s", delay)
            await self.backoff_sleep(delay)

    async def _connection(self) -> None:
        url = websocket_url(self.config.server, "/ws/v1/machine")
        headers = {
            "Authorization": f"Machine {self.config.machine_id}",
            "User-Agent": f"connect-agent/{__version__} ({os_name()})",
        }
        async with ws_connect(url, additional_headers=headers, open_timeout=15, max_size=2**20) as socket:
            challenge = json.loads(await asyncio.wait_for(socket.recv(), 15))
            if challenge.get("type") != "challenge":
                raise ValueError(f"expected a challenge, got {challenge.get('type')}")
            signature = self.config.sign_challenge(challenge["nonce"])
            await socket.send(json.dumps({"type": "auth", "signature": signature, "agent_version": __version__}))
            pinger = None
            try:
                async for raw in socket:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind == "hello":
                        self.online.set()
                        log.info("online as %s (%s)", message["machine"]["name"], message.get("organization"))
                        pinger = asyncio.create_task(self._ping(socket, int(message.get("heartbeat_seconds") or 20)))
                    elif kind == "session.request":
                        self._start_session(message)
                    elif kind == "error":
                        if message.get("code") == "machine_removed":
                            raise MachineRemoved()
                        log.warning("the server said %s: %s", message.get("code"), message.get("message"))
            finally:
                if pinger is not None:
                    pinger.cancel()
            if socket.close_code == CLOSE_REMOVED:
                raise MachineRemoved()
            if socket.close_code == CLOSE_AUTH:
                log.error("the server did not accept this machine's key (is it still enrolled?)")

    async def _ping(self, socket, seconds: int) -> None:
        while True:
            await asyncio.sleep(max(5, seconds))
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps({"type": "ping"}))

    def _start_session(self, message: dict) -> None:
        session_id = str(message.get("session") or "")
        if not session_id or session_id in self.sessions:
            return
        request = SessionRequest(
            server=self.config.server,
            session_id=session_id,
            customer_token=str(message.get("customer_token") or ""),
            ice_servers=list(message.get("ice_servers") or []),
            consent_required=bool(message.get("consent_required")),
            agent_name=str((message.get("agent") or {}).get("name") or ""),
            organization=str(message.get("organization") or ""),
            file_max_bytes=int(message.get("file_max_bytes") or 100 * 1024 * 1024),
        )
        log.info("session %s requested by %s", session_id, request.agent_name or "an agent")
        runner = SessionRunner(
            request,
            consent=self.consent,
            files_dir=self.files_dir,
            files_root=self.files_root,
            desktop_factory=self.desktop_factory,
            fps=self.fps,
        )
        task = asyncio.create_task(runner.run())
        self.sessions[session_id] = task

        def finished(task: asyncio.Task) -> None:
            self.sessions.pop(session_id, None)
            if task.cancelled():
                return
            if task.exception() is not None:
                log.error("session %s failed: %r", session_id, task.exception())
            else:
                log.info("session %s over (%s)", session_id, task.result())

        task.add_done_callback(finished)
