"""The canonical encoding of an audit entry, its hash, and the walk that verifies a chain.

Pure functions over plain values, so the migration that moved the old log here computes exactly what the writer does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENCODING_VERSION = 1


def canonical(
    *,
    organization: str,
    seq: int,
    prev_hash: str,
    action: str,
    actor_kind: str,
    actor_id: str,
    target_type: str,
    target_id: str,
    data: Any,
    created_at: datetime,
) -> bytes:
    """JSON with sorted keys, no whitespace, UTF-8, times in UTC to the microsecond: one byte string per entry."""
    document = {
        "v": ENCODING_VERSION,
        "org": organization,
        "seq": seq,
        "prev": prev_hash,
        "action": action,
        "actor": [actor_kind, actor_id],
        "target": [target_type, target_id],
        "data": data,
        "at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical(**fields)).hexdigest()


def hash_of(entry: Any, organization_public_id: str) -> str:
    """The hash ``entry`` (an AuditEntry row) should carry."""
    return entry_hash(
        organization=organization_public_id,
        seq=entry.seq,
        prev_hash=entry.prev_hash,
        action=entry.action,
        actor_kind=entry.actor_kind,
        actor_id=entry.actor_id,
        target_type=entry.target_type,
        target_id=entry.target_id,
        data=entry.data,
        created_at=entry.created_at,
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    last_seq: int
    broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": self.ok, "checked": self.checked, "last_seq": self.last_seq}
        if not self.ok:
            answer |= {"broken_seq": self.broken_seq, "reason": self.reason}
        return answer


def walk(
    entries: Any, *, organization_public_id: str, anchor_seq: int, anchor_hash: str, head_seq: int, head_hash: str
):
    """Check ``entries`` (ascending by seq) from the anchor to the head; the first break wins."""
    expected_seq, expected_prev, checked = anchor_seq + 1, anchor_hash, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return Verification(False, checked, expected_seq - 1, expected_seq, f"entry #{expected_seq} is missing")
        if entry.prev_hash != expected_prev:
            return Verification(False, checked, entry.seq - 1, entry.seq, "its previous hash does not match")
        if hash_of(entry, organization_public_id) != entry.hash:
            return Verification(False, checked, entry.seq - 1, entry.seq, "its content does not match its hash")
        expected_prev, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    last = expected_seq - 1
    if head_seq != last or head_hash != expected_prev:
        return Verification(
            False, checked, last, last + 1, f"the chain ends at #{head_seq}; entries after #{last} are missing"
        )
    return Verification(True, checked, last)
