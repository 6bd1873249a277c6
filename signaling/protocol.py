"""The signaling protocol, version 1: message types, who may send them, when, and their fields.

Documented for client authors in docs/signaling.md; keep the two in step (a test compares them).
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32  # arrays and objects inside one another; a real message nests two deep
MAX_SDP_CHARS = 60_000
MAX_CHAT_CHARS = 2_000
MAX_SEQ = 2**31 - 1  # a resume above what the server knows moves numbering there: keep it a sane number
# File transfer (sessions.files; the bytes go over the WebRTC data channel "files", only the control passes here).
MAX_FILE_NAME_CHARS = 255
MAX_FILE_BYTES = 2 * 1024**3  # no organization's limit goes above it (sessions.files.FILE_LIMIT_CEILING)
FILE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

AGENT = "agent"
CUSTOMER = "customer"
BOTH = frozenset({AGENT, CUSTOMER})

# When a message may be sent, by session status.
ANY_LIVE = frozenset({"waiting", "consent_requested", "active"})
CONSENTING = frozenset({"consent_requested"})
ACTIVE = frozenset({"active"})
LIVE_WITH_CUSTOMER = frozenset({"consent_requested", "active"})
MEDIA_STATES = ("sharing", "camera", "paused", "unavailable")


@dataclass(frozen=True)
class MessageType:
    name: str
    senders: frozenset[str]
    statuses: frozenset[str]
    relayed: bool  # passed on to the other party (else handled by the server)
    fields: dict[str, tuple[type, ...]]
    description: str


_TYPES = [
    MessageType("ping", BOTH, ANY_LIVE, False, {}, "Heartbeat; answered with pong. Send every 20 s."),
    MessageType(
        "resume",
        BOTH,
        ANY_LIVE,
        False,
        {"last_seq": (int,)},
        "After reconnecting: replay what arrived after last_seq, or answer resync.",
    ),
    MessageType(
        "consent.request",
        frozenset({AGENT}),
        CONSENTING,
        True,
        {},
        "Agent asks the customer (again) to share their screen.",
    ),
    MessageType(
        "consent.grant",
        frozenset({CUSTOMER}),
        CONSENTING,
        False,
        {},
        "Customer agrees to share; the session becomes active.",
    ),
    MessageType(
        "consent.decline",
        frozenset({CUSTOMER}),
        CONSENTING,
        False,
        {},
        "Customer refuses; the session ends as declined.",
    ),
    MessageType(
        "consent.revoke",
        frozenset({CUSTOMER}),
        ACTIVE,
        False,
        {},
        "Customer stops sharing; the session ends at once for both.",
    ),
    MessageType("offer", BOTH, ACTIVE, True, {"sdp": (str,)}, "WebRTC SDP offer (also for ICE restarts)."),
    MessageType("answer", BOTH, ACTIVE, True, {"sdp": (str,)}, "WebRTC SDP answer."),
    MessageType(
        "ice",
        BOTH,
        ACTIVE,
        True,
        {"candidate": (dict, type(None))},
        "A trickled ICE candidate (RTCIceCandidateInit), or null at the end of candidates.",
    ),
    MessageType("control.request", frozenset({AGENT}), ACTIVE, True, {}, "Agent asks for remote control."),
    MessageType("control.grant", frozenset({CUSTOMER}), ACTIVE, True, {}, "Customer allows remote control."),
    MessageType("control.deny", frozenset({CUSTOMER}), ACTIVE, True, {}, "Customer refuses remote control."),
    MessageType("control.revoke", frozenset({CUSTOMER}), ACTIVE, True, {}, "Customer takes control back."),
    MessageType(
        "chat",
        BOTH,
        ACTIVE,
        True,
        {"text": (str,)},
        "A chat line (at most 2,000 characters): kept (sessions.chat), relayed to the peer and echoed to the sender, "
        "both with id, name and at (the server's time).",
    ),
    MessageType(
        "media",
        frozenset({CUSTOMER}),
        LIVE_WITH_CUSTOMER,
        True,
        {"state": (str,)},
        "Customer tells the agent what it is sending: sharing, camera, paused (after a reload or a stop), or "
        "unavailable (the browser cannot share its screen).",
    ),
    MessageType(
        "file.offer",
        BOTH,
        ACTIVE,
        True,
        {"id": (str,), "name": (str,), "size": (int,)},
        "Offer a file to the other party (refused over the organization's limit, then not relayed); logged.",
    ),
    MessageType("file.accept", BOTH, ACTIVE, True, {"id": (str,)}, "The receiver accepts an offer; logged."),
    MessageType("file.decline", BOTH, ACTIVE, True, {"id": (str,)}, "The receiver declines an offer; logged."),
    MessageType(
        "file.cancel", BOTH, ACTIVE, True, {"id": (str,)}, "Either party stops a transfer not yet received; logged."
    ),
    MessageType(
        "file.done",
        BOTH,
        ACTIVE,
        True,
        {"id": (str,), "sha256": (str,)},
        "The sender has sent every byte of an accepted file: its SHA-256; logged.",
    ),
    MessageType(
        "file.received",
        BOTH,
        ACTIVE,
        True,
        {"id": (str,), "sha256": (str,)},
        "The receiver has every byte: the SHA-256 of what arrived; logged.",
    ),
    MessageType("end", BOTH, ANY_LIVE, False, {}, "End the session for both."),
]
CLIENT_TYPES: dict[str, MessageType] = {t.name: t for t in _TYPES}

# Sent by the server only.
SERVER_TYPES = {
    "hello": "First message: protocol version, your role, the session's state, your last seq, the peer's presence.",
    "pong": "Answer to ping.",
    "state": "The session's status changed (status, end_reason).",
    "peer": "The other party connected or disconnected (role, online).",
    "resync": "Missed messages cannot be replayed: renegotiate (ICE restart) and continue.",
    "error": "A message was refused (code, message); the connection stays open.",
    "agent": "The session was transferred: the agent now running it (id, name).",
    "limit": "The plan's session length ends this session soon (limit, ends_at).",
    "recording": "A recording of the session started or stopped (state, recording): the customer sees it.",
}

ERROR_CODES = {
    "malformed": "Not a JSON object (a binary frame, invalid JSON, NaN or Infinity, or nested over 32 deep).",
    "too_large": "Over 64 KB.",
    "unknown_type": "No such message type.",
    "invalid_message": "A field is missing, of the wrong type, too long, or holds a NUL or a lone surrogate.",
    "not_allowed": "Your role may not send this message.",
    "consent_required": "Media, control and chat flow only once the customer has consented.",
    "invalid_state": "The session's status does not allow this message now.",
    "session_ended": "The session has ended.",
    "session_transferred": "The session was transferred to another agent; this viewer no longer runs it.",
    "rate_limited": "Too many messages: wait retry_after_ms before sending again.",
    "file_too_large": "The file is over the organization's limit (max_bytes): it was not offered.",
    "unknown_file": "No such file offer in this session, or not yours to answer, or already answered.",
}

# Per-connection rate limits, a token bucket each: (messages per second, burst). Every frame counts against
# "message", on both sockets; it leaves room for a negotiation's SDP and ICE (an ICE trickle can be 30+ candidates in a
# second). Chat lines (each one is kept in the database) and control messages (each one writes to the database,
# or replays up to the whole buffer) also count against their own, lower limit.
RATE_LIMITS: dict[str, tuple[float, int]] = {
    "message": (50.0, 200),
    "chat": (2.0, 10),
    "control": (2.0, 10),
    "file": (2.0, 20),
}
CHAT_LIMITED = frozenset({"chat"})
FILE_LIMITED = frozenset(name for name in CLIENT_TYPES if name.startswith("file."))
CONTROL_LIMITED = frozenset(
    {"resume", "consent.request", "consent.grant", "consent.decline", "consent.revoke", "end"}
    | {name for name in CLIENT_TYPES if name.startswith("control.")}
)
# A refused message counts too: a connection that goes on sending a whole further burst past a limit instead of
# waiting is closed with this code, after an error saying so.
CLOSE_RATE_LIMITED = 4429


class ProtocolError(Exception):
    """A client message refused with an ``error`` message (``fields`` are added to it); with ``close_code``, the
    connection is closed after it."""

    def __init__(
        self, code: str, message: str | None = None, *, fields: dict[str, Any] | None = None, close_code: int = 0
    ) -> None:
        super().__init__(message or ERROR_CODES[code])
        self.code = code
        self.message = message or ERROR_CODES[code]
        self.fields = fields or {}
        self.close_code = close_code


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # json.loads takes NaN and Infinity, which a browser's JSON.parse refuses


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")  # 1e400 would be relayed as Infinity
    return value


def _too_deep(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def decode(text_data: str | None) -> Any:
    """A client frame's JSON (``text_data`` is ``None`` for a binary frame); :class:`ProtocolError` for anything that
    is not JSON text within the size and nesting limits. Every consumer decodes with it: none crashes on a frame."""
    if text_data is None:
        raise ProtocolError("malformed", "Send JSON text frames, not binary ones.")
    too_large = len(text_data) > MAX_MESSAGE_BYTES or (  # a character takes at most 4 bytes: most frames skip encoding
        len(text_data) * 4 > MAX_MESSAGE_BYTES and len(text_data.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES
    )
    if too_large:
        raise ProtocolError("too_large")
    try:
        message = json.loads(text_data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ProtocolError("malformed", f"Nested over {MAX_JSON_DEPTH} deep.") from None
    except ValueError:
        raise ProtocolError("malformed") from None
    # Only a frame with that many brackets can nest that deep: ordinary messages skip the walk.
    if text_data.count("[") + text_data.count("{") > MAX_JSON_DEPTH and _too_deep(message, MAX_JSON_DEPTH):
        raise ProtocolError("malformed", f"Nested over {MAX_JSON_DEPTH} deep.")
    return message


def _clean_text(value: str) -> bool:
    """Text the database and every peer can take: no NUL, no lone surrogate (which has no UTF-8 encoding)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _clean_text(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


class TokenBucket:
    """``rate`` tokens a second up to ``burst``. A refused take is owed as well, so a sender that does not wait sinks
    further below zero (``tokens``) and waits longer."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token: 0 when there was one, else the seconds until the next take can succeed."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate) - 1
        self.stamp = now
        return 0.0 if self.tokens >= 0 else (1 - self.tokens) / self.rate


class RateLimiter:
    """The rate limits of one connection (:data:`RATE_LIMITS`). Kept in the connection's process: the limit is per
    connection, and no other process needs it."""

    def __init__(self) -> None:
        self.buckets = {name: TokenBucket(rate, burst) for name, (rate, burst) in RATE_LIMITS.items()}

    def check(self, limit: str) -> None:
        """Count a message against ``limit``; :class:`ProtocolError` ``rate_limited`` when it is over."""
        bucket = self.buckets[limit]
        wait = bucket.take()
        if not wait:
            return
        flooding = bucket.tokens <= -bucket.burst
        raise ProtocolError(
            "rate_limited",
            "Too many messages: closing the connection." if flooding else None,
            fields={"retry_after_ms": math.ceil(wait * 1000)},
            close_code=CLOSE_RATE_LIMITED if flooding else 0,
        )

    def check_kind(self, kind: MessageType) -> None:
        """Count a valid message against the limit of its kind, if it has one."""
        if kind.name in CHAT_LIMITED:
            self.check("chat")
        elif kind.name in FILE_LIMITED:
            self.check("file")
        elif kind.name in CONTROL_LIMITED:
            self.check("control")


def parse(message: Any, role: str, status: str | None) -> tuple[MessageType, dict[str, Any]]:
    """Validate a decoded client message for ``role`` in a session of ``status``; return its type and fields."""
    if not isinstance(message, dict):
        raise ProtocolError("malformed")
    kind = CLIENT_TYPES.get(message.get("type")) if isinstance(message.get("type"), str) else None
    if kind is None:
        raise ProtocolError("unknown_type", f"Unknown message type {str(message.get('type'))[:40]!r}.")
    if role not in kind.senders:
        raise ProtocolError("not_allowed", f"The {role} cannot send {kind.name}.")
    if status not in kind.statuses:
        if status not in ANY_LIVE:
            raise ProtocolError("session_ended")
        if kind.statuses == ACTIVE and status in ("waiting", "consent_requested"):
            raise ProtocolError("consent_required")
        raise ProtocolError("invalid_state", f"{kind.name} is not allowed while the session is {status}.")
    fields: dict[str, Any] = {}
    for name, types in kind.fields.items():
        value = message.get(name)
        if name not in message or not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            raise ProtocolError("invalid_message", f"'{name}' is missing or of the wrong type.")
        if not _clean(value):  # relayed, and a chat line is also written to the database
            raise ProtocolError("invalid_message", f"'{name}' holds a NUL or a lone surrogate.")
        fields[name] = value
    if "sdp" in fields and len(fields["sdp"]) > MAX_SDP_CHARS:
        raise ProtocolError("invalid_message", "The SDP is too long.")
    if "text" in fields:
        fields["text"] = fields["text"].strip()
        if not fields["text"] or len(fields["text"]) > MAX_CHAT_CHARS:
            raise ProtocolError("invalid_message", "A chat line has 1 to 2,000 characters.")
    if kind.name == "media" and fields["state"] not in MEDIA_STATES:
        raise ProtocolError("invalid_message", f"'state' is one of {', '.join(MEDIA_STATES)}.")
    if kind.name in FILE_LIMITED:
        _check_file_fields(fields)
    if "last_seq" in fields and not 0 <= fields["last_seq"] <= MAX_SEQ:
        raise ProtocolError("invalid_message", f"'last_seq' is between 0 and {MAX_SEQ:,}.")
    return kind, fields


def clean_file_name(name: str) -> str | None:
    """The file name as offered, relayed and logged, or ``None`` when it is not one: 1 to 255 characters, no leading
    or trailing space, no control or format characters (a right-to-left override would disguise ``exe.txt``), no
    path. It is relayed exactly as sent: the pages trim and normalize it before offering."""
    if not name or name != name.strip() or len(name) > MAX_FILE_NAME_CHARS or name in (".", ".."):
        return None
    if any(char in "/\\" or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in name):
        return None
    return name


def _check_file_fields(fields: dict[str, Any]) -> None:
    if not FILE_ID.fullmatch(fields["id"]):
        raise ProtocolError("invalid_message", "'id' is 8 to 64 letters, digits, '-' or '_'.")
    if "name" in fields:
        if clean_file_name(fields["name"]) is None:
            raise ProtocolError(
                "invalid_message",
                f"'name' is a file name of 1 to {MAX_FILE_NAME_CHARS} characters, with no path or control characters.",
            )
    if "size" in fields and not 0 <= fields["size"] <= MAX_FILE_BYTES:
        raise ProtocolError("invalid_message", f"'size' is a number of bytes from 0 to {MAX_FILE_BYTES:,}.")
    if "sha256" in fields and not SHA256_HEX.fullmatch(fields["sha256"]):
        raise ProtocolError("invalid_message", "'sha256' is 64 lowercase hexadecimal digits.")
