"""File transfer over the ``files`` data channel, as docs/signaling.md ("File transfer") describes it.

The control messages (``file.offer``, ``file.accept``, ``file.done``, ``file.received``) travel over the session
socket, so the server enforces the size limit and keeps the record; the bytes go peer-to-peer. Received files are
written to a temporary file beside their destination and moved into place only once every byte is there and hashed.
What the viewer may fetch from the machine is confined to ``files_root`` (the home directory by default).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 16 * 1024
HIGH_WATER = 1024 * 1024
SAFE_NAME = re.compile(r"[^\w.\- ()\[\]]+")


class TransferRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def safe_name(name: str) -> str:
    """A file name that cannot leave the destination directory or hide what it is."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = SAFE_NAME.sub("_", name).strip(" .")
    return name[:200] or "file"


def unique_path(directory: Path, name: str) -> Path:
    candidate = directory / name
    stem, suffix = os.path.splitext(name)
    number = 1
    while candidate.exists():
        number += 1
        candidate = directory / f"{stem} ({number}){suffix}"
    return candidate


@dataclass
class Incoming:
    id: str
    name: str
    size: int
    received: int = 0
    started: bool = False
    ended: bool = False
    done_sha256: str | None = None
    digest: Any = field(default_factory=hashlib.sha256)
    handle: Any = None
    temporary: Path | None = None


@dataclass
class Outgoing:
    id: str
    path: Path
    size: int
    accepted: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Transfers:
    """Both directions of one session's transfers. ``send`` writes to the session socket; ``channel()`` gives the
    current ``files`` data channel (a new peer connection brings a new one)."""

    def __init__(
        self,
        *,
        send: Callable[[dict], Awaitable[None]],
        channel: Callable[[], Any],
        files_dir: Path,
        files_root: Path,
        max_bytes: int,
        log: Callable[[str], None] = print,
    ) -> None:
        self.send, self.channel, self.log = send, channel, log
        self.files_dir, self.files_root, self.max_bytes = files_dir, files_root, max_bytes
        self.incoming: dict[str, Incoming] = {}
        self.outgoing: dict[str, Outgoing] = {}
        self.current: Incoming | None = None
        self.saved: list[Path] = []

    # --- the viewer sends us a file ------------------------------------------------------------------------

    async def on_offer(self, message: dict) -> None:
        file_id, name, size = message.get("id"), message.get("name"), message.get("size")
        if not isinstance(file_id, str) or not isinstance(name, str) or type(size) is not int:
            return
        if size > self.max_bytes or size < 0:
            await self.send({"type": "file.decline", "id": file_id})
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        incoming = Incoming(file_id, safe_name(name), size)
        incoming.temporary = self.files_dir / f".connect-{secrets.token_hex(8)}.part"
        self.incoming[file_id] = incoming
        await self.send({"type": "file.accept", "id": file_id})

    def on_channel_message(self, data: str | bytes) -> None:
        if isinstance(data, str):
            try:
                frame = json.loads(data)
            except ValueError:
                return
            incoming = self.incoming.get(frame.get("id")) if isinstance(frame, dict) else None
            if incoming is None:
                return
            if frame.get("start") and not incoming.started:
                incoming.started = True
                incoming.handle = open(incoming.temporary, "wb")  # noqa: SIM115  closed in _finish or _drop
                self.current = incoming
            elif frame.get("end") and incoming.started:
                incoming.ended = True
                self.current = None
                asyncio.ensure_future(self._maybe_finish(incoming))
            return
        incoming = self.current
        if incoming is None or incoming.handle is None:
            return  # bytes of nothing we accepted: dropped unread
        incoming.received += len(data)
        if incoming.received > incoming.size:
            self.log(f"file {incoming.name}: more than the {incoming.size} bytes offered; dropped")
            self._drop(incoming)
            asyncio.ensure_future(self.send({"type": "file.cancel", "id": incoming.id}))
            return
        incoming.digest.update(data)
        incoming.handle.write(data)

    async def on_done(self, message: dict) -> None:
        incoming = self.incoming.get(message.get("id"))
        if incoming is not None:
            incoming.done_sha256 = str(message.get("sha256"))
            await self._maybe_finish(incoming)

    async def _maybe_finish(self, incoming: Incoming) -> None:
        if not (incoming.ended and incoming.done_sha256) or incoming.handle is None:
            return
        incoming.handle.close()
        incoming.handle = None
        sha256 = incoming.digest.hexdigest()
        destination = unique_path(self.files_dir, incoming.name)
        os.replace(incoming.temporary, destination)
        self.saved.append(destination)
        self.incoming.pop(incoming.id, None)
        matches = "matches" if sha256 == incoming.done_sha256 else "DOES NOT match"
        self.log(f"received {destination} ({incoming.received} bytes, SHA-256 {sha256}, {matches})")
        await self.send({"type": "file.received", "id": incoming.id, "sha256": sha256})

    def _drop(self, incoming: Incoming) -> None:
        if incoming.handle is not None:
            incoming.handle.close()
            incoming.handle = None
        if incoming.temporary is not None and incoming.temporary.exists():
            incoming.temporary.unlink()
        self.incoming.pop(incoming.id, None)
        if self.current is incoming:
            self.current = None

    def on_cancel(self, message: dict) -> None:
        incoming = self.incoming.get(message.get("id"))
        if incoming is not None:
            self._drop(incoming)
        outgoing = self.outgoing.pop(message.get("id"), None)
        if outgoing is not None and not outgoing.accepted.done():
            outgoing.accepted.set_result(False)

    # --- the viewer fetches a file from this machine -----------------------------------------------------------

    def resolve(self, requested: Any) -> Path:
        if not isinstance(requested, str) or not requested or "\x00" in requested or len(requested) > 4096:
            raise TransferRefused("invalid", "path is a file's path on this machine")
        root = self.files_root.resolve()
        path = Path(requested).expanduser()
        path = (path if path.is_absolute() else root / path).resolve()
        if path != root and root not in path.parents:
            raise TransferRefused("not_allowed", f"only files under {root} may be fetched")
        if not path.is_file():
            raise TransferRefused("not_found", f"{path} is not a file")
        if path.stat().st_size > self.max_bytes:
            raise TransferRefused("file_too_large", f"{path} is over the {self.max_bytes} byte limit")
        return path

    async def offer(self, path: Path) -> None:
        file_id = "fa_" + secrets.token_urlsafe(12)
        outgoing = Outgoing(file_id, path, path.stat().st_size)
        self.outgoing[file_id] = outgoing
        await self.send({"type": "file.offer", "id": file_id, "name": path.name[:255], "size": outgoing.size})
        asyncio.ensure_future(self._send_when_accepted(outgoing))

    def on_answer(self, message: dict, accepted: bool) -> None:
        outgoing = self.outgoing.get(message.get("id"))
        if outgoing is not None and not outgoing.accepted.done():
            outgoing.accepted.set_result(accepted)
        if not accepted:
            self.outgoing.pop(message.get("id"), None)

    async def _send_when_accepted(self, outgoing: Outgoing) -> None:
        if not await outgoing.accepted:
            return
        channel = self.channel()
        if channel is None or channel.readyState != "open":
            await self.send({"type": "file.cancel", "id": outgoing.id})
            return
        drained = asyncio.Event()
        channel.bufferedAmountLowThreshold = HIGH_WATER // 2
        channel.on("bufferedamountlow", drained.set)
        digest = hashlib.sha256()
        channel.send(json.dumps({"id": outgoing.id, "start": True, "size": outgoing.size}))
        with open(outgoing.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                if outgoing.id not in self.outgoing:
                    return  # cancelled meanwhile
                digest.update(chunk)
                channel.send(chunk)
                if channel.bufferedAmount > HIGH_WATER:
                    drained.clear()
                    await drained.wait()
        channel.send(json.dumps({"id": outgoing.id, "end": True}))
        await self.send({"type": "file.done", "id": outgoing.id, "sha256": digest.hexdigest()})
        self.log(f"sent {outgoing.path} ({outgoing.size} bytes, SHA-256 {digest.hexdigest()})")

    def close(self) -> None:
        for incoming in list(self.incoming.values()):
            self._drop(incoming)
