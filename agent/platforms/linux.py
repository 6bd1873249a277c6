"""Linux with X11: input through the XTEST extension (python-xlib), the clipboard through xclip.

Wayland sessions do not let one program inject input into another; there the agent shares the screen only and says
so (``can_inject`` is false when XTEST is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from agent.remote_input import InputEvent

from .base import Desktop, DesktopUnavailable, Monitor

# KeyboardEvent.key names to X keysym names.
KEYSYMS = {
    "Enter": "Return",
    "Tab": "Tab",
    "Backspace": "BackSpace",
    "Escape": "Escape",
    "Delete": "Delete",
    "Insert": "Insert",
    "Home": "Home",
    "End": "End",
    "PageUp": "Prior",
    "PageDown": "Next",
    "ArrowUp": "Up",
    "ArrowDown": "Down",
    "ArrowLeft": "Left",
    "ArrowRight": "Right",
    "Shift": "Shift_L",
    "Control": "Control_L",
    "Alt": "Alt_L",
    "Meta": "Super_L",
    "CapsLock": "Caps_Lock",
    "ContextMenu": "Menu",
    "PrintScreen": "Print",
    "Pause": "Pause",
    "NumLock": "Num_Lock",
    "ScrollLock": "Scroll_Lock",
    **{f"F{n}": f"F{n}" for n in range(1, 13)},
}
BUTTON_NUMBERS = {"left": 1, "middle": 2, "right": 3}
CLIPBOARD_TIMEOUT = 5


class X11Desktop(Desktop):
    os_name = "linux"
    can_sas = True  # X has no secure attention key of its own: Ctrl+Alt+Del is keys, for the session to handle

    def __init__(self) -> None:
        super().__init__()
        if not os.environ.get("DISPLAY"):
            raise DesktopUnavailable("DISPLAY is not set: the agent needs an X11 session (Wayland is view-only)")
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError

        try:
            self.display = xdisplay.Display()
        except DisplayError as exc:
            raise DesktopUnavailable(f"cannot open the X display {os.environ['DISPLAY']}: {exc}") from exc
        self.can_inject = self.display.has_extension("XTEST")
        self.can_clipboard = shutil.which("xclip") is not None
        self._held: set[str] = set()
        self._spare_keycode: int | None = None

    # --- input -----------------------------------------------------------------------------------------

    def _fake(self, kind: int, detail: int = 0, **position: int) -> None:
        from Xlib.ext import xtest

        xtest.fake_input(self.display, kind, detail, **position)

    def inject(self, event: InputEvent, monitor: Monitor) -> None:
        from Xlib import X

        if not self.can_inject:
            raise NotImplementedError("this X server has no XTEST extension: remote input is off")
        if event.kind in ("move", "button"):
            self._fake(X.MotionNotify, x=monitor.left + event.x, y=monitor.top + event.y)
        if event.kind == "button":
            self._fake(X.ButtonPress if event.down else X.ButtonRelease, BUTTON_NUMBERS[event.button])
        elif event.kind == "wheel":
            for button, steps in ((5 if event.dy > 0 else 4, event.dy), (7 if event.dx > 0 else 6, event.dx)):
                for _ in range(abs(steps)):
                    self._fake(X.ButtonPress, button)
                    self._fake(X.ButtonRelease, button)
        elif event.kind == "key":
            self._key(event.key, event.down)
        elif event.kind == "text":
            for char in event.text:
                key = {"\n": "Enter", "\t": "Tab"}.get(char, char)
                self._key(key, True)
                self._key(key, False)
        self.display.sync()

    def _keysym(self, key: str) -> int:
        from Xlib import XK

        if key in KEYSYMS:
            return XK.string_to_keysym(KEYSYMS[key])
        code = ord(key)
        return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code

    def _key(self, key: str, down: bool) -> None:
        from Xlib import X

        keysym = self._keysym(key)
        found = list(self.display.keysym_to_keycodes(keysym))
        if found:
            keycode, index = min(found, key=lambda pair: pair[1])
        else:
            keycode, index = self._map_spare(keysym), 0
        shift = index % 2 == 1 and "Shift" not in self._held and len(key) == 1
        if key in KEYSYMS and KEYSYMS[key].endswith(("_L", "_R", "Lock")):
            (self._held.add if down else self._held.discard)(key)
        shift_code = self.display.keysym_to_keycode(self._keysym("Shift"))
        if shift and down:
            self._fake(X.KeyPress, shift_code)
        self._fake(X.KeyPress if down else X.KeyRelease, keycode)
        if shift and down:
            self._fake(X.KeyRelease, shift_code)

    def _map_spare(self, keysym: int) -> int:
        """A character no key produces (most of Unicode): borrow an unused keycode for it, as xdotool does."""
        if self._spare_keycode is None:
            first = self.display.display.info.min_keycode
            count = self.display.display.info.max_keycode - first + 1
            mapping = self.display.get_keyboard_mapping(first, count)
            unused = [first + i for i, syms in enumerate(mapping) if not any(syms)]
            if not unused:
                raise NotImplementedError("no spare keycode to type this character")
            self._spare_keycode = unused[-1]
        self.display.change_keyboard_mapping(self._spare_keycode, [(keysym, keysym)])
        self.display.sync()
        return self._spare_keycode

    def send_sas(self) -> None:
        for key in ("Control", "Alt", "Delete"):
            self._key(key, True)
        for key in ("Delete", "Alt", "Control"):
            self._key(key, False)
        self.display.sync()

    # --- clipboard -------------------------------------------------------------------------------------

    def clipboard_get(self) -> str:
        if not self.can_clipboard:
            raise NotImplementedError("xclip is not installed: the clipboard is off")
        result = subprocess.run(  # noqa: S603
            ["xclip", "-selection", "clipboard", "-o"],  # noqa: S607
            capture_output=True,
            timeout=CLIPBOARD_TIMEOUT,
            check=False,
        )
        return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else ""

    def clipboard_set(self, text: str) -> None:
        if not self.can_clipboard:
            raise NotImplementedError("xclip is not installed: the clipboard is off")
        # xclip stays behind as the selection's owner until something else takes it: that is how X clipboards work.
        subprocess.run(  # noqa: S603
            ["xclip", "-selection", "clipboard", "-i"],  # noqa: S607
            input=text.encode("utf-8"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=CLIPBOARD_TIMEOUT,
            check=True,
        )

    def close(self) -> None:
        super().close()
        self.display.close()
