"""The desktop of the machine the agent runs on: one module per operating system (see :mod:`.base`)."""

from __future__ import annotations

import platform
import sys

from .base import Desktop, DesktopUnavailable, Frame, Monitor

__all__ = ["Desktop", "DesktopUnavailable", "Frame", "Monitor", "desktop", "os_description", "os_name"]


def os_name() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def os_description() -> str:
    """The operating system as its users name it (shown in the machine list): "Debian GNU/Linux 12 (bookworm)",
    "Windows 11 (10.0.22631)", "macOS 14.5"."""
    name = os_name()
    if name == "windows":
        release, version, *_ = platform.win32_ver()
        return f"Windows {release} ({version})".strip()
    if name == "macos":
        return f"macOS {platform.mac_ver()[0]}".strip()
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pretty = ""
    return pretty or f"Linux {platform.release()}"


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
