"""Remote-control input from the viewer, validated before anything touches the machine.

Events arrive as JSON text on the WebRTC data channel ``input`` (docs/remote-control.md). Each is checked for its
shape, its coordinates (pixels of the monitor being shown: ``0 <= x < width``) and the connection's rate (a token
bucket) before :class:`agent.platforms.base.Desktop` injects it. A refused event is dropped and answered with an
``error``; nothing a viewer sends can crash the agent or reach outside the shown monitor.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

BUTTONS = ("left", "middle", "right")
# KeyboardEvent.key names the agent injects, beside single printable characters.
NAMED_KEYS = frozenset(
    [
        "Enter", "Tab", "Backspace", "Escape", "Delete", "Insert", "Home", "End", "PageUp", "PageDown",
        "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Shift", "Control", "Alt", "Meta", "CapsLock",
        "ContextMenu", "PrintScreen", "Pause", "NumLock", "ScrollLock",
        *[f"F{n}" for n in range(1, 13)],
    ]
)  # fmt: skip
MAX_FRAME = 4096
MAX_TEXT = 500
MAX_WHEEL = 20
INPUT_RATE = 200.0  # events a second, sustained: pointer moves at 60-120 Hz and typing
INPUT_BURST = 400


class InputRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class InputEvent:
    kind: str  # move, button, wheel, key, text
    x: int = 0
    y: int = 0
    button: str = ""
    down: bool = False
    dx: int = 0
    dy: int = 0
    key: str = ""
    text: str = ""


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _int(message: dict, name: str) -> int:
    value = message.get(name)
    if type(value) is not int:  # bool is an int to Python, not to us
        raise InputRefused("invalid", f"{name} must be an integer")
    return value


def _point(message: dict, width: int, height: int) -> tuple[int, int]:
    x, y = _int(message, "x"), _int(message, "y")
    if not (0 <= x < width and 0 <= y < height):
        raise InputRefused("out_of_range", f"({x}, {y}) is outside the {width}x{height} screen")
    return x, y


def parse(frame: Any, *, width: int, height: int) -> InputEvent:
    """One input frame as an :class:`InputEvent`, or :class:`InputRefused` saying why not."""
    if not isinstance(frame, str) or len(frame) > MAX_FRAME:
        raise InputRefused("invalid", "input events are JSON text of at most 4 KB")
    try:
        message = json.loads(frame)
    except ValueError:
        raise InputRefused("invalid", "not JSON") from None
    if not isinstance(message, dict):
        raise InputRefused("invalid", "an input event is a JSON object")
    kind = message.get("t")
    if kind == "move":
        x, y = _point(message, width, height)
        return InputEvent("move", x=x, y=y)
    if kind == "button":
        x, y = _point(message, width, height)
        if message.get("button") not in BUTTONS or type(message.get("down")) is not bool:
            raise InputRefused("invalid", "button is left, middle or right, and down true or false")
        return InputEvent("button", x=x, y=y, button=message["button"], down=message["down"])
    if kind == "wheel":
        dx, dy = _int(message, "dx"), _int(message, "dy")
        if abs(dx) > MAX_WHEEL or abs(dy) > MAX_WHEEL:
            raise InputRefused("out_of_range", f"wheel steps are at most {MAX_WHEEL} a event")
        return InputEvent("wheel", dx=dx, dy=dy)
    if kind == "key":
        key = message.get("key")
        if type(message.get("down")) is not bool or not isinstance(key, str):
            raise InputRefused("invalid", "key needs key (a KeyboardEvent.key) and down")
        if key not in NAMED_KEYS and not (len(key) == 1 and key.isprintable()):
            raise InputRefused("invalid", f"unknown key {key[:20]!r}")
        return InputEvent("key", key=key, down=message["down"])
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise InputRefused("invalid", f"text is 1 to {MAX_TEXT} characters")
        if any(not (ch.isprintable() or ch in "\n\t") for ch in text):
            raise InputRefused("invalid", "text holds control characters")
        return InputEvent("text", text=text)
    raise InputRefused("invalid", "t is move, button, wheel, key or text")


class InputGate:
    """Validates and rate-limits one viewer's input; counts what it refused (for the log and the tests)."""

    def __init__(self, rate: float = INPUT_RATE, burst: int = INPUT_BURST, clock=time.monotonic) -> None:
        self.bucket = TokenBucket(rate, burst, clock)
        self.clock = clock
        self.refused = 0
        self.accepted = 0
        self._last_error_at = -1e9

    def admit(self, frame: Any, *, width: int, height: int) -> InputEvent:
        if not self.bucket.take():
            self.refused += 1
            raise InputRefused("rate_limited", "too many input events: slow down")
        try:
            event = parse(frame, width=width, height=height)
        except InputRefused:
            self.refused += 1
            raise
        self.accepted += 1
        return event

    def should_report(self) -> bool:
        """At most one error a second goes back: a flood of refusals must not become a flood of answers."""
        now = self.clock()
        if now - self._last_error_at < 1.0:
            return False
        self._last_error_at = now
        return True
