"""The agent's configuration file: which server, which machine, and the machine's own Ed25519 private key.

The key never leaves the machine: enrollment sends only its public half, and the machine socket proves the machine by
signing the server's challenge. The file is written atomically and readable by its owner only (0600); a file others
may read is refused, as ssh refuses such a key.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SYSTEM_PATH = Path("/etc/connect-agent/config.json")
SIGNED_CONTEXT = b"bizgaze-connect machine-auth v1\n"


class ConfigError(Exception):
    """The configuration is missing, unreadable or unsafe; the message says what to do."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AgentConfig:
    server: str  # https://connect.example.com
    machine_id: str = ""
    private_key: str = ""  # raw Ed25519 private key, base64url
    name: str = ""
    organization: str = ""
    files_dir: str = ""  # where received files go; empty: ~/Downloads/Connect
    files_root: str = ""  # what the viewer may fetch; empty: the home directory
    consent_command: str = ""  # asks the person at the machine; empty: a dialog on the display, else the terminal
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(b64url_decode(self.private_key))

    def sign_challenge(self, nonce: str) -> str:
        return b64url(self.key.sign(SIGNED_CONTEXT + self.machine_id.encode() + b"\n" + nonce.encode()))


def new_key() -> tuple[str, str]:
    """A fresh key pair: (private, public), both raw and base64url."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(private), b64url(public)


def default_path() -> Path:
    """``$CONNECT_AGENT_CONFIG``, else the system file for root (the service), else the user's own."""
    if os.environ.get("CONNECT_AGENT_CONFIG"):
        return Path(os.environ["CONNECT_AGENT_CONFIG"])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_PATH
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "connect-agent" / "config.json"


def save(config: AgentConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(config), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load(path: Path) -> AgentConfig:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: enroll this machine first (connect-agent enroll).") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds the machine's private key and others may read it: chmod 600 {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {name: data[name] for name in AgentConfig.__dataclass_fields__ if name in data}
        config = AgentConfig(**known)
        if not (config.server and config.machine_id and config.private_key):
            raise ValueError("server, machine_id and private_key are required")
        _ = config.key
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{path} is not a valid agent configuration ({exc}): enroll again.") from None
    return config
