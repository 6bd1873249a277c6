"""macOS: input through Quartz events (pyobjc's ``Quartz``), the clipboard through pbcopy and pbpaste.

Not tested in CI (which has no Mac); it implements the same :class:`~agent.platforms.base.Desktop` as Linux. The
agent needs the Screen Recording and Accessibility permissions (System Settings → Privacy & Security), which macOS
asks for on first use. No program may send the secure attention sequence, so ``can_sas`` is false.
"""

from __future__ import annotations

import subprocess

from agent.remote_input import InputEvent

from .base import Desktop, DesktopUnavailable, Monitor

KEY_CODES = {
    "Enter": 36, "Tab": 48, "Backspace": 51, "Escape": 53, "Delete": 117, "Home": 115, "End": 119,
    "PageUp": 116, "PageDown": 121, "ArrowUp": 126, "ArrowDown": 125, "ArrowLeft": 123, "ArrowRight": 124,
    "Shift": 56, "Control": 59, "Alt": 58, "Meta": 55, "CapsLock": 57,
    "F1": 122, "F2": 120, "F3": 99, "F4": 118, "F5": 96, "F6": 97, "F7": 98, "F8": 100, "F9": 101,
    "F10": 109, "F11": 103, "F12": 111,
}  # fmt: skip


class MacDesktop(Desktop):
    os_name = "macos"
    can_inject = True
    can_clipboard = True

    def __init__(self) -> None:
        super().__init__()
        try:
            import Quartz
        except ImportError as exc:
            raise DesktopUnavailable("remote input on macOS needs pyobjc: pip install pyobjc-framework-Quartz") from exc
        self.q = Quartz
        self._buttons_down: set[str] = set()

    def _post(self, event) -> None:
        self.q.CGEventPost(self.q.kCGHIDEventTap, event)

    def inject(self, event: InputEvent, monitor: Monitor) -> None:
        q = self.q
        if event.kind in ("move", "button"):
            point = (monitor.left + event.x, monitor.top + event.y)
            if event.kind == "move":
                kind = q.kCGEventLeftMouseDragged if "left" in self._buttons_down else q.kCGEventMouseMoved
                self._post(q.CGEventCreateMouseEvent(None, kind, point, q.kCGMouseButtonLeft))
                return
            kinds = {
                "left": (q.kCGEventLeftMouseDown, q.kCGEventLeftMouseUp, q.kCGMouseButtonLeft),
                "right": (q.kCGEventRightMouseDown, q.kCGEventRightMouseUp, q.kCGMouseButtonRight),
                "middle": (q.kCGEventOtherMouseDown, q.kCGEventOtherMouseUp, q.kCGMouseButtonCenter),
            }
            down, up, button = kinds[event.button]
            (self._buttons_down.add if event.down else self._buttons_down.discard)(event.button)
            self._post(q.CGEventCreateMouseEvent(None, down if event.down else up, point, button))
        elif event.kind == "wheel":
            self._post(q.CGEventCreateScrollWheelEvent(None, q.kCGScrollEventUnitLine, 2, -event.dy, -event.dx))
        elif event.kind == "key":
            self._key(event.key, event.down)
        elif event.kind == "text":
            for char in event.text:
                key = {"\n": "Enter", "\t": "Tab"}.get(char, char)
                self._key(key, True)
                self._key(key, False)

    def _key(self, key: str, down: bool) -> None:
        q = self.q
        if key in KEY_CODES:
            self._post(q.CGEventCreateKeyboardEvent(None, KEY_CODES[key], down))
            return
        event = q.CGEventCreateKeyboardEvent(None, 0, down)
        q.CGEventKeyboardSetUnicodeString(event, len(key.encode("utf-16-le")) // 2, key)
        self._post(event)

    def clipboard_get(self) -> str:
        return subprocess.run(["pbpaste"], capture_output=True, timeout=5, check=False).stdout.decode(
            "utf-8", "replace"
        )

    def clipboard_set(self, text: str) -> None:
        subprocess.run(["pbcopy"], input=text.encode("utf-8"), capture_output=True, timeout=5, check=True)
