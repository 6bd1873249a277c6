"""The signaling protocol, version 1: message types, who may send them, when, and their fields.

Documented for client authors in docs/signaling.md; keep the two in step (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 60_000
MAX_CHAT_CHARS = 2_000
MAX_SEQ = 2**31 - 1  # a resume above what the server knows moves numbering there: keep it a sane number

AGENT = "agent"
CUSTOMER = "customer"
BOTH = frozenset({AGENT, CUSTOMER})

# When a message may be sent, by session status.
ANY_LIVE = frozenset({"waiting", "consent_requested", "active"})
CONSENTING = frozenset({"consent_requested"})
ACTIVE = frozenset({"active"})


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
    MessageType("chat", BOTH, ACTIVE, True, {"text": (str,)}, "A chat line (at most 2,000 characters)."),
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
}

ERROR_CODES = {
    "malformed": "Not a JSON object.",
    "too_large": "Over 64 KB.",
    "unknown_type": "No such message type.",
    "invalid_message": "A field is missing, of the wrong type, or too long.",
    "not_allowed": "Your role may not send this message.",
    "consent_required": "Media, control and chat flow only once the customer has consented.",
    "invalid_state": "The session's status does not allow this message now.",
    "session_ended": "The session has ended.",
}


class ProtocolError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or ERROR_CODES[code])
        self.code = code
        self.message = message or ERROR_CODES[code]


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
        fields[name] = value
    if "sdp" in fields and len(fields["sdp"]) > MAX_SDP_CHARS:
        raise ProtocolError("invalid_message", "The SDP is too long.")
    if "text" in fields:
        fields["text"] = fields["text"].strip()
        if not fields["text"] or len(fields["text"]) > MAX_CHAT_CHARS:
            raise ProtocolError("invalid_message", "A chat line has 1 to 2,000 characters.")
    if "last_seq" in fields and not 0 <= fields["last_seq"] <= MAX_SEQ:
        raise ProtocolError("invalid_message", f"'last_seq' is between 0 and {MAX_SEQ:,}.")
    return kind, fields
