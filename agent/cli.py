"""``connect-agent``: enroll this machine, run it unattended, or join one session by its code (attended).

connect-agent enroll --server https://connect.example.com --token cme_...
connect-agent run                      # in the foreground, or as the systemd service (connect-agent service-file)
connect-agent attend --server https://connect.example.com --code 123456789
connect-agent status
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

from agent import __version__
from agent import config as agent_config
from agent.consent import asker
from agent.platforms import os_description, os_name

log = logging.getLogger("connect-agent")
EXIT_USAGE = 2


class ServerError(Exception):
    pass


def post_json(server: str, path: str, body: dict, timeout: float = 20) -> dict:
    """POST ``body`` to the server's API; the one error shape becomes a :class:`ServerError` with its message."""
    if not server.startswith(("https://", "http://")):
        raise ServerError(f"the server address must start with https:// (got {server!r})")
    request = urllib.request.Request(  # noqa: S310  the scheme is checked above
        server.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": f"connect-agent/{__version__} ({os_name()})"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            raise ServerError(f"{error['message']} ({error['code']})") from None
        except (ValueError, KeyError, TypeError):
            raise ServerError(f"the server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ServerError(f"cannot reach {server}: {getattr(exc, 'reason', exc)}") from None


def files_dirs(cfg: agent_config.AgentConfig | None) -> tuple[Path, Path]:
    received = Path(cfg.files_dir) if cfg and cfg.files_dir else Path.home() / "Downloads" / "Connect"
    root = Path(cfg.files_root) if cfg and cfg.files_root else Path.home()
    return received, root


def cmd_enroll(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else agent_config.default_path()
    if path.exists() and not args.force:
        print(f"{path} exists: this machine is enrolled already (use --force to enroll it again).", file=sys.stderr)
        return EXIT_USAGE
    private, public = agent_config.new_key()
    body = {
        "token": args.token,
        "hostname": socket.gethostname()[:255],
        "os": os_name(),
        "os_version": os_description()[:100],
        "agent_version": __version__,
        "public_key": public,
        "name": args.name or "",
    }
    try:
        enrolled = post_json(args.server, "/api/v1/machines/enroll", body)
    except ServerError as exc:
        print(f"Enrollment failed: {exc}", file=sys.stderr)
        return 1
    cfg = agent_config.AgentConfig(
        server=args.server.rstrip("/"),
        machine_id=enrolled["machine_id"],
        private_key=private,
        name=enrolled["name"],
        organization=enrolled["organization"],
    )
    agent_config.save(cfg, path)
    print(f"Enrolled {enrolled['name']} in {enrolled['organization']} ({enrolled['group']}) as {cfg.machine_id}.")
    print(f"Configuration: {path}. Start it with: connect-agent run")
    return 0


def configured(args: argparse.Namespace) -> tuple[Path, agent_config.AgentConfig | None]:
    """The configuration ``--config`` (or the default path) names, or ``None`` after saying what is wrong."""
    path = Path(args.config) if args.config else agent_config.default_path()
    try:
        return path, agent_config.load(path)
    except agent_config.ConfigError as exc:
        print(exc, file=sys.stderr)
        return path, None


def cmd_run(args: argparse.Namespace) -> int:
    from agent.machine import MachineClient

    path, cfg = configured(args)
    if cfg is None:
        return EXIT_USAGE
    received, root = files_dirs(cfg)
    client = MachineClient(cfg, consent=asker(cfg.consent_command), files_dir=received, files_root=root, fps=args.fps)
    log.info("connect-agent %s: %s at %s", __version__, cfg.machine_id, cfg.server)
    try:
        return asyncio.run(client.run())
    except KeyboardInterrupt:
        return 0


def cmd_attend(args: argparse.Namespace) -> int:
    from agent.session import SessionRequest, SessionRunner

    try:
        if args.ticket:  # the launcher the customer's page downloaded: the session is this browser's
            joined = post_json(args.server, "/api/v1/join/attend", {"ticket": args.ticket})
        else:
            code = "".join(ch for ch in args.code if ch.isdigit())
            name = args.name or socket.gethostname()
            joined = post_json(args.server, "/api/v1/join", {"code": code, "name": name})
    except ServerError as exc:
        print(f"Could not join: {exc}", file=sys.stderr)
        return 1
    request = SessionRequest(
        server=args.server.rstrip("/"),
        session_id=joined["session_id"],
        customer_token=joined["customer_token"],
        ice_servers=joined.get("ice_servers") or [],
        consent_required=not args.ticket,  # by code: asked when the session asks; by ticket: asked below
        agent_name=joined.get("agent", ""),
        organization=joined.get("organization", ""),
        file_max_bytes=int(joined.get("file_max_bytes") or 100 * 1024 * 1024),
    )
    if args.ticket and not args.yes:
        who = request.agent_name or "Your agent"
        question = f"{who} of {request.organization} asks to see and control this computer. Allow?"
        if not asyncio.run(asker()(question)):
            print("Not allowed: the agent leaves the session to your browser.")
            return 1
    print(f"Joined the session of {request.agent_name} ({request.organization}). Type a line to chat; Ctrl+C leaves.")
    received, root = files_dirs(None)

    def show_chat(message: dict) -> None:
        print(f"{message.get('name')}: {message.get('text')}", flush=True)

    runner = SessionRunner(
        request,
        consent=asker(assume_yes=args.yes),
        files_dir=received,
        files_root=root,
        fps=args.fps,
        on_chat=show_chat,
        chat_from=sys.stdin,
    )
    try:
        reason = asyncio.run(runner.run())
    except KeyboardInterrupt:
        return 0
    print(f"The session is over ({reason}).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    path, cfg = configured(args)
    if cfg is None:
        return 1
    print(f"machine {cfg.machine_id} ({cfg.name}) of {cfg.organization}\nserver  {cfg.server}\nconfig  {path}")
    return 0


def cmd_service_file(args: argparse.Namespace) -> int:
    print(resources.files("agent").joinpath("connect-agent.service").read_text(encoding="utf-8"), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="connect-agent", description="The BizGaze Connect desktop agent.")
    main_parser.add_argument("--version", action="version", version=f"connect-agent {__version__}")
    main_parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = main_parser.add_subparsers(dest="command", required=True)

    enroll = commands.add_parser("enroll", help="enroll this machine with an enrollment token")
    enroll.add_argument("--server", required=True, help="https://connect.example.com")
    enroll.add_argument("--token", required=True, help="the enrollment token (cme_...)")
    enroll.add_argument("--name", help="the machine's name in the list (default: its host name)")
    enroll.add_argument("--config", help="where to keep the configuration and key")
    enroll.add_argument("--force", action="store_true", help="replace an existing enrollment")
    enroll.set_defaults(handler=cmd_enroll)

    run = commands.add_parser("run", help="keep this machine online for unattended sessions")
    run.add_argument("--config")
    run.add_argument("--fps", type=float, default=10.0, help="frames a second of the screen (default 10)")
    run.set_defaults(handler=cmd_run)

    attend = commands.add_parser("attend", help="join one session by its code, with you at the machine")
    attend.add_argument("--server", required=True)
    which = attend.add_mutually_exclusive_group(required=True)
    which.add_argument("--code", help="the 9-digit code the agent gave you")
    which.add_argument("--ticket", help="the one-time ticket of a launcher downloaded from the session's page")
    attend.add_argument("--name", help="your name, as the agent sees it")
    attend.add_argument("--yes", action="store_true", help="do not ask again before sharing this screen")
    attend.add_argument("--fps", type=float, default=10.0)
    attend.set_defaults(handler=cmd_attend)

    status = commands.add_parser("status", help="which machine and server this agent is")
    status.add_argument("--config")
    status.set_defaults(handler=cmd_status)

    service = commands.add_parser("service-file", help="print the systemd unit (install as connect-agent.service)")
    service.set_defaults(handler=cmd_service_file)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose or os.environ.get("CONNECT_AGENT_DEBUG") else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        for noisy in ("aioice", "aiortc", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return args.handler(args)
