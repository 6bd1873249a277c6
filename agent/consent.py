"""Asking the person at the machine whether to let the agent in.

In order: the configured ``consent_command`` (run with the question as its last argument; exit status 0 is yes),
a dialog on the X display (zenity, else xmessage), else the terminal. With none of them, or no answer within
``TIMEOUT`` seconds, the answer is no: nobody was there to say yes.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys

TIMEOUT = 60


async def _run(argv: list[str]) -> bool:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        return await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    except TimeoutError:
        process.kill()
        return False


async def _terminal(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    loop = asyncio.get_running_loop()
    try:
        answer = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), TIMEOUT)
    except TimeoutError:
        print("\nNo answer: refused.")
        return False
    return answer.strip().lower() in ("y", "yes")


def asker(command: str = "", *, assume_yes: bool = False):
    """The consent function for :class:`agent.session.SessionRunner`."""

    async def ask(question: str) -> bool:
        if assume_yes:
            return True
        if command:
            return await _run([*shlex.split(command), question])
        if os.environ.get("DISPLAY") and shutil.which("zenity"):
            return await _run(["zenity", "--question", "--title=BizGaze Connect", f"--text={question}"])
        if os.environ.get("DISPLAY") and shutil.which("xmessage"):
            return await _run(["xmessage", "-center", "-buttons", "Allow:0,Deny:1", "-default", "Deny", question])
        if sys.stdin is not None and sys.stdin.isatty():
            return await _terminal(question)
        return False

    return ask
