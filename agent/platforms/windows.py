"""Windows: input through SendInput (user32, by ctypes), the clipboard through PowerShell.

Not tested in CI (which has no Windows); it implements the same :class:`~agent.platforms.base.Desktop` as Linux.
Ctrl+Alt+Del cannot be sent from a user's program on Windows (only a service may call SendSAS), so ``can_sas`` is
false. Run the agent in the signed-in user's session: a service in session 0 sees no desktop.
"""

from __future__ import annotations

import ctypes
import subprocess
from ctypes import wintypes

from agent.remote_input import InputEvent

from .base import Desktop, Monitor

INPUT_MOUSE, INPUT_KEYBOARD = 0, 1
MOUSEEVENTF_MOVE, MOUSEEVENTF_ABSOLUTE, MOUSEEVENTF_VIRTUALDESK = 0x0001, 0x8000, 0x4000
MOUSEEVENTF_WHEEL, MOUSEEVENTF_HWHEEL = 0x0800, 0x1000
BUTTON_FLAGS = {"left": (0x0002, 0x0004), "right": (0x0008, 0x0010), "middle": (0x0020, 0x0040)}
KEYEVENTF_KEYUP, KEYEVENTF_UNICODE = 0x0002, 0x0004
WHEEL_DELTA = 120
SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN = 76, 77, 78, 79
VIRTUAL_KEYS = {
    "Enter": 0x0D, "Tab": 0x09, "Backspace": 0x08, "Escape": 0x1B, "Delete": 0x2E, "Insert": 0x2D,
    "Home": 0x24, "End": 0x23, "PageUp": 0x21, "PageDown": 0x22, "ArrowUp": 0x26, "ArrowDown": 0x28,
    "ArrowLeft": 0x25, "ArrowRight": 0x27, "Shift": 0x10, "Control": 0x11, "Alt": 0x12, "Meta": 0x5B,
    "CapsLock": 0x14, "ContextMenu": 0x5D, "PrintScreen": 0x2C, "Pause": 0x13, "NumLock": 0x90,
    "ScrollLock": 0x91, **{f"F{n}": 0x6F + n for n in range(1, 13)},
}  # fmt: skip


class MOUSEINPUT(ctypes.Structure):
    _fields_ = [("dx", wintypes.LONG), ("dy", wintypes.LONG), ("mouseData", wintypes.DWORD),
                ("dwFlags", wintypes.DWORD), ("time", wintypes.DWORD), ("dwExtraInfo", ctypes.c_void_p)]  # fmt: skip


class KEYBDINPUT(ctypes.Structure):
    _fields_ = [("wVk", wintypes.WORD), ("wScan", wintypes.WORD), ("dwFlags", wintypes.DWORD),
                ("time", wintypes.DWORD), ("dwExtraInfo", ctypes.c_void_p)]  # fmt: skip


class _INPUTUNION(ctypes.Union):
    _fields_ = [("mi", MOUSEINPUT), ("ki", KEYBDINPUT), ("padding", ctypes.c_byte * 32)]


class INPUT(ctypes.Structure):
    _fields_ = [("type", wintypes.DWORD), ("union", _INPUTUNION)]


class WindowsDesktop(Desktop):
    os_name = "windows"
    can_inject = True
    can_clipboard = True

    def __init__(self) -> None:
        super().__init__()
        self.user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        self.user32.SetProcessDPIAware()  # pixels, not scaled points, as mss captures them

    def _send(self, *inputs: INPUT) -> None:
        array = (INPUT * len(inputs))(*inputs)
        self.user32.SendInput(len(inputs), array, ctypes.sizeof(INPUT))

    def _mouse(self, flags: int, dx: int = 0, dy: int = 0, data: int = 0) -> INPUT:
        return INPUT(
            INPUT_MOUSE, _INPUTUNION(mi=MOUSEINPUT(dx, dy, ctypes.c_ulong(data & 0xFFFFFFFF).value, flags, 0, None))
        )

    def _key(self, *, vk: int = 0, scan: int = 0, flags: int = 0) -> INPUT:
        return INPUT(INPUT_KEYBOARD, _INPUTUNION(ki=KEYBDINPUT(vk, scan, flags, 0, None)))

    def _absolute(self, monitor: Monitor, x: int, y: int) -> tuple[int, int]:
        metric = self.user32.GetSystemMetrics
        left, top = metric(SM_XVIRTUALSCREEN), metric(SM_YVIRTUALSCREEN)
        width, height = metric(SM_CXVIRTUALSCREEN), metric(SM_CYVIRTUALSCREEN)
        px, py = monitor.left + x - left, monitor.top + y - top
        return px * 65535 // max(1, width - 1), py * 65535 // max(1, height - 1)

    def inject(self, event: InputEvent, monitor: Monitor) -> None:
        if event.kind in ("move", "button"):
            dx, dy = self._absolute(monitor, event.x, event.y)
            self._send(self._mouse(MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK, dx, dy))
        if event.kind == "button":
            down_flag, up_flag = BUTTON_FLAGS[event.button]
            self._send(self._mouse(down_flag if event.down else up_flag))
        elif event.kind == "wheel":
            if event.dy:
                self._send(self._mouse(MOUSEEVENTF_WHEEL, data=-event.dy * WHEEL_DELTA))
            if event.dx:
                self._send(self._mouse(MOUSEEVENTF_HWHEEL, data=event.dx * WHEEL_DELTA))
        elif event.kind == "key":
            if event.key in VIRTUAL_KEYS:
                flags = 0 if event.down else KEYEVENTF_KEYUP
                self._send(self._key(vk=VIRTUAL_KEYS[event.key], flags=flags))
            else:
                flags = KEYEVENTF_UNICODE | (0 if event.down else KEYEVENTF_KEYUP)
                self._send(self._key(scan=ord(event.key), flags=flags))
        elif event.kind == "text":
            for char in event.text.replace("\n", "\r"):
                if char == "\r":
                    self._send(self._key(vk=0x0D), self._key(vk=0x0D, flags=KEYEVENTF_KEYUP))
                    continue
                for unit in char.encode("utf-16-le").decode("latin-1")[::2]:  # one UTF-16 unit at a time
                    code = ord(unit)
                    self._send(self._key(scan=code, flags=KEYEVENTF_UNICODE),
                               self._key(scan=code, flags=KEYEVENTF_UNICODE | KEYEVENTF_KEYUP))  # fmt: skip

    def clipboard_get(self) -> str:
        result = subprocess.run(
            ["powershell", "-NoProfile", "-Command", "Get-Clipboard -Raw"], capture_output=True, timeout=5, check=False
        )
        return result.stdout.decode("utf-8", errors="replace").rstrip("\r\n")

    def clipboard_set(self, text: str) -> None:
        subprocess.run(
            ["powershell", "-NoProfile", "-Command", "$input | Set-Clipboard"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=5,
            check=True,
        )
