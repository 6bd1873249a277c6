"""What the agent needs of the machine's desktop: its monitors, a frame of one, input and the clipboard.

One module per operating system implements :class:`Desktop` (``linux`` with X11; ``windows`` and ``macos``), and
:func:`agent.platforms.desktop` picks it. Capture is the same everywhere (mss); input and the clipboard are not.
Every call may block: the agent runs them in one worker thread of its own, never on its event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.remote_input import InputEvent


@dataclass(frozen=True)
class Monitor:
    index: int  # 1-based, as mss numbers them
    left: int
    top: int
    width: int
    height: int
    primary: bool = False

    def as_dict(self) -> dict:
        return {"index": self.index, "width": self.width, "height": self.height, "primary": self.primary}


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    bgra: bytes


class DesktopUnavailable(Exception):
    """No display to capture or control (no X server, no session); the message says what is missing."""


class Desktop:
    """Capture with mss; subclasses add input, the clipboard and the secure attention sequence."""

    os_name = "unknown"
    can_inject = False
    can_clipboard = False
    can_sas = False  # Ctrl+Alt+Del: the OS decides whether a program may send it

    def __init__(self) -> None:
        self._mss = None

    def _screens(self):
        if self._mss is None:
            import mss

            try:
                self._mss = mss.mss()
            except Exception as exc:  # noqa: BLE001  mss raises its own ScreenShotError, or ctypes' errors
                raise DesktopUnavailable(f"cannot open the display: {exc}") from exc
        return self._mss

    def monitors(self) -> list[Monitor]:
        found = self._screens().monitors[1:]  # [0] is every monitor together
        return [
            Monitor(number, m["left"], m["top"], m["width"], m["height"], primary=number == 1)
            for number, m in enumerate(found, start=1)
        ]

    def grab(self, monitor: Monitor) -> Frame:
        shot = self._screens().grab(
            {"left": monitor.left, "top": monitor.top, "width": monitor.width, "height": monitor.height}
        )
        return Frame(shot.width, shot.height, bytes(shot.bgra))

    def inject(self, event: InputEvent, monitor: Monitor) -> None:
        raise NotImplementedError(f"remote input is not available on {self.os_name}")

    def clipboard_get(self) -> str:
        raise NotImplementedError(f"the clipboard is not available on {self.os_name}")

    def clipboard_set(self, text: str) -> None:
        raise NotImplementedError(f"the clipboard is not available on {self.os_name}")

    def send_sas(self) -> None:
        raise NotImplementedError(f"{self.os_name} does not let a program send Ctrl+Alt+Del")

    def close(self) -> None:
        if self._mss is not None:
            self._mss.close()
            self._mss = None
