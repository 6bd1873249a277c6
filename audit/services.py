"""Writing, verifying, pseudonymizing and purging the audit log. Nothing else writes ``AuditEntry`` rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connect import events
from connect.event_types import LABEL_MAX, person_label
from orgs.models import Organization

from . import chain
from .models import AuditEntry, ChainHead, PurgePermit

ERASED_LABEL = "Erased user"


def _target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if getattr(target, "is_authenticated", False) and hasattr(target, "email"):  # a person
        return target._meta.model_name, target.public_id, person_label(target)
    label = ""
    for attribute in ("name", "email", "customer_name"):
        value = getattr(target, attribute, "")
        if isinstance(value, str) and value:
            label = value
            break
    return target._meta.model_name, str(getattr(target, "public_id", "") or target.pk), label[:LABEL_MAX]


def _locked_head(organization: Organization) -> ChainHead:
    heads = ChainHead.objects.for_org(organization).select_for_update()
    head = heads.first()
    if head is None:
        try:
            with transaction.atomic():
                ChainHead.objects.create(organization=organization)
        except IntegrityError:  # another writer created it first; the lock below waits for it
            pass
        head = heads.get()
    return head


def audit_record(
    *,
    organization: Organization,
    action: str,
    actor: Any = None,
    target: Any = None,
    target_label: str = "",
    ip: str | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Append one entry to ``organization``'s chain. Call it inside the transaction of the change it records: the
    chain head stays locked until that commits, so concurrent writers append one after another, gaplessly."""
    who = events.Actor.of(actor)
    target_type, target_id, default_label = _target(target)
    ip = ip or getattr(actor, "ip", None)
    with transaction.atomic():
        head = _locked_head(organization)
        entry = AuditEntry(
            organization=organization,
            seq=head.last_seq + 1,
            prev_hash=head.last_hash,
            action=action,
            actor_kind=who.kind,
            actor_id=who.id,
            actor_label=who.label,
            target_type=target_type,
            target_id=target_id,
            target_label=(target_label or default_label)[:LABEL_MAX],
            ip=ip,
            data=data or {},
            created_at=timezone.now(),
        )
        # What is hashed is what the database will give back: JSON round-tripped, time to the microsecond.
        entry.hash = chain.hash_of(entry, organization.public_id)
        entry.save(force_insert=True)
        ChainHead.objects.for_org(organization).filter(pk=head.pk).update(last_seq=entry.seq, last_hash=entry.hash)
        _announce(entry)
    return entry


def _announce(entry: AuditEntry) -> None:
    """Offer the entry to subscribers: webhook endpoints that asked for ``audit.entry`` stream the log to a SIEM."""
    events.emit(
        events.AuditEntryAppended(
            organization=entry.organization,
            actor=events.Actor(kind=entry.actor_kind, id=entry.actor_id, label=entry.actor_label),
            seq=entry.seq,
            action=entry.action,
            target=events.AuditTarget(type=entry.target_type, id=entry.target_id, label=entry.target_label),
            ip=entry.ip,
            data=entry.data,
            created_at=entry.created_at,
            hash=entry.hash,
            prev_hash=entry.prev_hash,
        )
    )


def entry_payload(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "action": entry.action,
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "label": entry.actor_label},
        "target": {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label},
        "ip": entry.ip,
        "data": entry.data,
        "created_at": entry.created_at.isoformat(),
        "hash": entry.hash,
        "prev_hash": entry.prev_hash,
    }


def audit_verify(*, organization: Organization) -> chain.Verification:
    """Walk ``organization``'s chain from its anchor; ok, or the first sequence number that does not hold."""
    head = ChainHead.objects.for_org(organization).first()
    entries = AuditEntry.objects.for_org(organization).order_by("seq")
    if head is None:
        if entries.exists():
            return chain.Verification(False, 0, 0, entries.first().seq, "the chain has no head")
        return chain.Verification(True, 0, 0)
    return chain.walk(
        entries.iterator(chunk_size=2000),
        organization_public_id=organization.public_id,
        anchor_seq=head.anchor_seq,
        anchor_hash=head.anchor_hash,
        head_seq=head.last_seq,
        head_hash=head.last_hash,
    )


def audit_pseudonymize(
    *, person_id: str, also_targets: list[str] | tuple[str, ...] = (), label: str = ERASED_LABEL
) -> int:
    """Replace a person's labels and addresses in every organization's log (erasure), and the labels of entries about
    ``also_targets`` (objects labelled with their personal data, such as invitations addressed to them). Hashes do not
    cover these columns, so every chain still verifies. Answers how many entries changed."""
    entries = AuditEntry.objects.unscoped("erasing a person reaches every organization they acted in")
    changed = entries.filter(actor_id=person_id).update(actor_label=label, ip=None)
    return changed + entries.filter(target_id__in=[person_id, *also_targets]).update(target_label=label)


@contextmanager
def purge_permit(organization: Organization, up_to_seq: int | None = None) -> Iterator[None]:
    """Let the database delete ``organization``'s entries up to ``up_to_seq`` (all of them by default) within
    the enclosing transaction, for the retention purge and the organization purge."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("purge_permit() must run inside a transaction")
    permit = PurgePermit.objects.create(organization_ref=organization.pk, up_to_seq=up_to_seq or 2**63 - 1)
    try:
        yield
    finally:
        PurgePermit.objects.filter(pk=permit.pk).delete()


def audit_purge_before(*, organization: Organization, before: datetime) -> int:
    """Delete ``organization``'s entries older than ``before``; the last deleted entry's hash becomes the chain's
    anchor so the rest still verifies, and the purge itself is recorded. Idempotent: nothing older, nothing done."""
    with transaction.atomic():
        head = _locked_head(organization)
        entries = AuditEntry.objects.for_org(organization)
        last = entries.filter(created_at__lt=before).order_by("-seq").values("seq", "hash").first()
        if last is None or last["seq"] <= head.anchor_seq:
            return 0
        with purge_permit(organization, last["seq"]):
            deleted, _ = entries.filter(seq__lte=last["seq"]).delete()
        ChainHead.objects.for_org(organization).filter(pk=head.pk).update(
            anchor_seq=last["seq"], anchor_hash=last["hash"]
        )
        audit_record(
            organization=organization,
            action="audit.purged",
            data={"up_to_seq": last["seq"], "entries": deleted, "before": before.isoformat()},
        )
    return deleted
