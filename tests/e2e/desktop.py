"""A virtual screen (Xvfb) and the desktop agent as a process, for the suites that drive remote control.

The agent runs exactly as installed (``python -m agent``), enrolled against a real server with a real enrollment
token; the screen is an Xvfb display of its own, read back with xdotool and xclip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import require_binary

from .servers import PYTHON, REPO, Server, tail

WIDTH, HEIGHT = 1280, 800


def require_desktop_tools() -> None:
    for binary in ("Xvfb", "xdotool", "xterm", "xclip"):
        require_binary(binary, "e2e-deps")


@contextmanager
def virtual_screen(log_dir: Path) -> Iterator[str]:
    """An Xvfb display (black background) of its own; yields its name (``:N``)."""
    require_desktop_tools()
    log_dir.mkdir(parents=True, exist_ok=True)
    for number in range(90 + os.getpid() % 50, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    log = open(log_dir / "xvfb.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-br", "-nolisten", "tcp"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert process.poll() is None, f"Xvfb exited: {tail(log_dir / 'xvfb.log', 20)}"
            assert time.monotonic() < deadline, "Xvfb did not start within 15 s"
            time.sleep(0.05)
        yield display
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def on_screen(display: str, *argv: str, check: bool = True) -> str:
    """Run an X client on ``display``; its standard output."""
    result = subprocess.run(
        list(argv), env={**os.environ, "DISPLAY": display}, capture_output=True, timeout=15, check=False
    )
    if check:
        assert result.returncode == 0, f"{argv}: {result.stderr.decode(errors='replace')}"
    return result.stdout.decode(errors="replace")


def mouse_location(display: str) -> tuple[int, int]:
    fields = dict(part.split(":") for part in on_screen(display, "xdotool", "getmouselocation").split())
    return int(fields["x"]), int(fields["y"])


def agent_command(*args: str) -> list[str]:
    return [PYTHON, "-m", "agent", *args]


def enroll(server: Server, token: str, config: Path, *, name: str = "build-box") -> str:
    result = subprocess.run(
        agent_command("enroll", "--server", server.base_url, "--token", token, "--config", str(config), "--name", name),
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return result.stdout.decode()


@contextmanager
def running_agent(config: Path, display: str, log_dir: Path, *, home: Path) -> Iterator[subprocess.Popen]:
    """``connect-agent run`` on ``display``, with ``home`` as its home directory (received files land in
    ``home/Downloads/Connect``); stopped on exit, its log printed."""
    log_path = log_dir / "agent.log"
    log = open(log_path, "wb")  # noqa: SIM115
    env = {**os.environ, "DISPLAY": display, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        agent_command("run", "--config", str(config)), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        log.close()
        print(f"--- agent log ---\n{tail(log_path, 80)}")
