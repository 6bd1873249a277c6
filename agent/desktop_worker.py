"""The machine's desktop behind one worker thread, and the screen as an aiortc video track.

X11 connections and mss are not safe to share between threads, and every call into them blocks; so the desktop lives
in one thread of its own and the event loop awaits it. The track paces itself (``fps``) instead of aiortc's 30 frames
a second: a desktop changes slowly, and each frame costs an encode.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
from aiortc import VideoStreamTrack

from agent.platforms import Desktop, Monitor

VIDEO_CLOCK = 90_000


class DesktopWorker:
    def __init__(self, factory: Callable[[], Desktop]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="desktop")
        self._factory = factory
        self.desktop: Desktop | None = None
        self.monitors: list[Monitor] = []
        self.monitor: Monitor | None = None

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def start(self) -> None:
        def open_desktop() -> tuple[Desktop, list[Monitor]]:
            desktop = self._factory()
            return desktop, desktop.monitors()

        self.desktop, self.monitors = await self.call(open_desktop)
        self.monitor = next((m for m in self.monitors if m.primary), self.monitors[0])

    def select(self, index: int) -> Monitor:
        monitor = next((m for m in self.monitors if m.index == index), None)
        if monitor is None:
            raise ValueError(f"no monitor {index}")
        self.monitor = monitor
        return monitor

    async def close(self) -> None:
        if self.desktop is not None:
            await self.call(self.desktop.close)
        self._executor.shutdown(wait=False)


def bgra_frame(data: bytes, width: int, height: int) -> av.VideoFrame:
    """A BGRA frame from tightly packed rows (what mss captures); the encoders convert it."""
    frame = av.VideoFrame(width, height, "bgra")
    plane = frame.planes[0]
    row = width * 4
    if plane.line_size == row:
        plane.update(data)
    else:  # FFmpeg pads rows to its alignment
        padding = bytes(plane.line_size - row)
        plane.update(b"".join(data[y * row : (y + 1) * row] + padding for y in range(height)))
    return frame


class ScreenTrack(VideoStreamTrack):
    """Frames of the worker's selected monitor; switching monitors changes the frame size mid-stream, which the
    encoders handle (the viewer sees the new size)."""

    def __init__(self, worker: DesktopWorker, fps: float = 10.0) -> None:
        super().__init__()
        self.worker = worker
        self.interval = 1.0 / fps
        self._started: float | None = None
        self._next = 0.0
        self.frames = 0

    async def recv(self) -> av.VideoFrame:
        now = time.monotonic()
        if self._started is None:
            self._started = self._next = now
        elif self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next + self.interval, time.monotonic() - self.interval)
        monitor = self.worker.monitor
        shot = await self.worker.call(self.worker.desktop.grab, monitor)
        frame = bgra_frame(shot.bgra, shot.width, shot.height)
        frame.pts = int((time.monotonic() - self._started) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames += 1
        return frame
