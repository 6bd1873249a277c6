"""The desktop of the machine the agent runs on: one module per operating system (see :mod:`.base`)."""

from __future__ import annotations

import sys

from .base import Desktop, DesktopUnavailable, Frame, Monitor

__all__ = ["Desktop", "DesktopUnavailable", "Frame", "Monitor", "desktop", "os_name"]


def os_name() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def desktop() -> Desktop:
    name = os_name()
    if name == "windows":
        from .windows import WindowsDesktop

        return WindowsDesktop()
    if name == "macos":
        from .macos import MacDesktop

        return MacDesktop()
    from .linux import X11Desktop

    return X11Desktop()
