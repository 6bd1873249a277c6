"""Recording a support session: start, upload in chunks (resumable), complete, download, delete, purge.

Upload protocol. The agent's browser records with MediaRecorder and sends each piece as it comes, numbered from 0
(``PUT .../chunks/{index}``, with the piece's SHA-256). Each chunk is stored as an object of its own, keyed by its
index and hash; sending a stored chunk again changes nothing, so a client that lost its connection asks which
indexes arrived (``GET /recordings/{id}``) and sends only the others. Completing names how many chunks there are and
the SHA-256 of the whole file: every chunk is checked present and intact, streamed in order through a temporary
file into one object, and the whole file's hash checked before anything is marked complete.

Why not S3 multipart upload: its parts must be 5 MiB or more (all but the last), while a browser's chunks are small
(a second or two of video) and a request body is at most ``CONNECT_MAX_BODY_BYTES``; and the same code must work on
local files. Assembling on the server costs one read and one write of the recording, once.

Slow work (storage reads and writes) happens outside database transactions, so an upload never holds a database
lock (SQLite has one for the whole database); the row changes after it are conditional, so racing requests cannot
both win. Storage is metered (``billing.metering``, ``Metric.RECORDING_BYTES``) when a recording completes, and
given back (a negative record) when it is deleted or purged.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements, metering
from billing.models import Metric
from connect.errors import ApplicationError, Conflict, Forbidden
from connect.links import absolute_url
from orgs.models import Organization
from orgs.tenancy import OrgContext
from sessions import services as session_services
from sessions.models import Status, SupportSession
from sessions.selectors import SessionAction, session_check_access
from sessions.services import SYSTEM, Actor
from signaling import live

from . import storage as store
from .models import Recording, RecordingChunk

logger = logging.getLogger(__name__)

MAX_CHUNKS = 100_000
DOWNLOAD_SALT = "recordings.download"
DISPOSITIONS = ("attachment", "inline")
SPOOL_BYTES = 8 * 1024 * 1024  # assembled in memory up to this, on disk beyond


def chunk_max_bytes() -> int:
    return min(settings.CONNECT_RECORDING_CHUNK_MAX_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**31)


def _audit(recording: Recording, action: str, actor: Actor, data: dict | None = None) -> None:
    if recording.session_id:
        label, source = recording.session.customer_name, {"session_id": recording.session.public_id}
    else:
        label, source = recording.meeting.title, {"meeting_id": recording.meeting.public_id}
    audit_record(
        organization=recording.organization,
        action=action,
        actor=actor,
        target=recording,
        target_label=label,
        ip=actor.ip,
        data={**source, **(data or {})},
    )


def log(recording: Recording, event_type: str, actor: Actor, data: dict) -> None:
    """A line in the session's log for a session's recording (a meeting has no log: its audit entry says it)."""
    if recording.session_id:
        session_services.session_log(recording.session, event_type, actor, data, audit=False)


def announce(recording: Recording, state: str) -> None:
    """After commit: both ends of the session, or everyone in the meeting, see the recording indicator change."""
    recording_id = recording.public_id
    if recording.session_id:
        session_id = recording.session.public_id
        transaction.on_commit(lambda: live.session_recording(session_id, state=state, recording_id=recording_id))
    else:
        from meetings import live as meeting_live

        meeting_live.announce(
            recording.meeting, {"type": "meeting.recording", "state": state, "recording": recording_id}
        )


def require_uploaded_by_a_browser(recording: Recording) -> None:
    if recording.meeting_id:
        raise Conflict(
            _("A meeting's recording is written by the SFU; it takes no uploads."), code="recorded_by_the_sfu"
        )


def _locked(recording: Recording) -> Recording:
    return (
        Recording.objects.for_org(recording.organization)
        .select_for_update(of=("self",))  # the session or meeting may be null: lock the recording's row alone
        .select_related("session", "meeting", "organization")
        .get(pk=recording.pk)
    )


# --- Start ------------------------------------------------------------------------------------------------------


def require_may_record(organization: Organization) -> None:
    """The plan includes recording (402) and the organization's policy is not off (403): sessions and meetings."""
    entitlements.require_feature(organization, "recording")
    if organization.recording_policy == Organization.RecordingPolicy.OFF:
        raise Forbidden(
            _("Your organization does not record sessions or meetings; an admin can change that in its settings."),
            code="recording_disabled",
        )


@transaction.atomic
def recording_start(*, org: OrgContext, session: SupportSession, actor: Actor) -> Recording:
    """Start recording ``session``: the plan must include recording, the session must be active (the customer
    consented and shares their screen), and ``org`` must be allowed to run it (its agent, an admin, the organization's
    own credentials)."""
    session_check_access(org, session, SessionAction.OPERATE)
    require_may_record(session.organization)
    if session.status != Status.ACTIVE:
        raise Conflict(
            _("Only an active session can be recorded; this one is %(status)s.") % {"status": session.status},
            code="invalid_session_state",
            details={"status": session.status},
        )
    recording = Recording.objects.create(
        organization=session.organization,
        session=session,
        started_by=actor.user,
        started_by_label=(actor.user.get_full_name() or actor.user.email) if actor.user else (actor.label or ""),
    )
    recording.storage_key = store.final_key(store.recording_prefix(session.organization.public_id, recording.public_id))
    recording.save(update_fields=["storage_key"])
    session_services.session_log(
        session, "recording_started", actor, {"recording_id": recording.public_id}, audit=False
    )
    _audit(recording, "recording.started", actor)
    announce(recording, "started")
    return recording


# --- Chunks -----------------------------------------------------------------------------------------------------


def storage_used(recording: Recording) -> int:
    """Bytes the organization keeps now: completed recordings (as metered) and chunks of uploads under way."""
    organization = recording.organization
    in_flight = (
        RecordingChunk.objects.for_org(organization)
        .filter(recording__status=Recording.Status.UPLOADING)
        .aggregate(total=Sum("size_bytes"))["total"]
    )
    return metering.storage_in_use(organization) + int(in_flight or 0)


def _require_room(recording: Recording, adding: int) -> None:
    """The plan's ``recording_storage_bytes`` must hold what is stored plus ``adding``: else 402, as every limit."""
    organization = recording.organization
    allowed = entitlements.entitlements_for(organization).limit("recording_storage_bytes")
    if allowed is None:
        return
    used = storage_used(recording)
    if used + adding > allowed:
        raise entitlements.PlanLimitReached(
            _(
                "Recordings use %(used)s of the %(allowed)s bytes your plan stores; this chunk of %(adding)s bytes "
                "does not fit. Delete recordings, or upgrade."
            )
            % {"used": used, "allowed": allowed, "adding": adding},
            details={
                "limit": "recording_storage_bytes",
                "allowed": allowed,
                "current": used,
                "upgrade_url": entitlements.upgrade_url(organization),
            },
        )


def _same_or_conflict(existing: RecordingChunk, sha256: str) -> RecordingChunk:
    if existing.sha256 == sha256:
        return existing
    raise Conflict(
        _("Chunk %(index)s was already received with other content; a stored chunk is never replaced.")
        % {"index": existing.index},
        code="chunk_conflict",
        details={"index": existing.index, "stored_sha256": existing.sha256},
    )


def recording_chunk_put(*, recording: Recording, index: int, data: bytes, sha256: str) -> tuple[RecordingChunk, bool]:
    """Store chunk ``index`` of ``recording``; ``sha256`` is what the client says ``data`` hashes to (hex).

    Idempotent per index: the same bytes again answer the stored chunk and ``False`` (nothing changed); other bytes
    for a stored index are a 409. Refused, with nothing stored: a body that does not match its hash (400), an empty
    or oversized chunk (400, 413), a recording no longer uploading (409), the plan's storage full (402)."""
    require_uploaded_by_a_browser(recording)
    sha256 = sha256.lower()
    if not 0 <= index < MAX_CHUNKS:
        raise ApplicationError(
            _("A chunk index runs from 0 to %(max)s.") % {"max": MAX_CHUNKS - 1},
            code="validation_error",
            details={"field": "index"},
        )
    if not data:
        raise ApplicationError(_("The chunk is empty."), code="empty_chunk")
    limit = chunk_max_bytes()
    if len(data) > limit:
        raise ApplicationError(
            _("A chunk is at most %(limit)d bytes.") % {"limit": limit},
            code="payload_too_large",
            status_code=413,
            details={"limit_bytes": limit},
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ApplicationError(
            _("The chunk's SHA-256 is not the one sent with it: it was damaged on the way. Send it again."),
            code="chunk_hash_mismatch",
            details={"index": index, "sent_sha256": sha256, "received_sha256": actual},
        )
    existing = recording.chunks.filter(index=index).first()
    if existing is not None:
        return _same_or_conflict(existing, sha256), False
    if recording.status != Recording.Status.UPLOADING:
        raise Conflict(
            _("This recording is %(status)s; it takes no more chunks.") % {"status": recording.status},
            code="recording_not_uploading",
            details={"status": recording.status},
        )
    _require_room(recording, len(data))

    storage = store.recordings_storage()
    prefix = store.recording_prefix(recording.organization.public_id, recording.public_id)
    stored_key = storage.save(store.chunk_key(prefix, index, sha256), ContentFile(data))
    try:
        with transaction.atomic():
            locked = _locked(recording)
            if locked.status != Recording.Status.UPLOADING:
                raise Conflict(
                    _("This recording is %(status)s; it takes no more chunks.") % {"status": locked.status},
                    code="recording_not_uploading",
                    details={"status": locked.status},
                )
            chunk = RecordingChunk.objects.create(
                recording=locked, index=index, size_bytes=len(data), sha256=sha256, storage_key=stored_key
            )
    except IntegrityError:
        # The same index arrived twice at once: the first one stored is the chunk.
        existing = recording.chunks.get(index=index)
        if existing.storage_key != stored_key:
            storage.delete(stored_key)
        return _same_or_conflict(existing, sha256), False
    except Conflict:
        storage.delete(stored_key)
        raise
    return chunk, True


# --- Complete ---------------------------------------------------------------------------------------------------


def _purge_after(recording: Recording, completed_at: datetime) -> datetime | None:
    days = entitlements.entitlements_for(recording.organization).limit("recording_retention_days")
    return None if days is None else completed_at + timedelta(days=days)


def _missing_or_extra(chunks: list[RecordingChunk], chunk_count: int) -> None:
    present = {chunk.index for chunk in chunks}
    missing = [i for i in range(chunk_count) if i not in present]
    if missing:
        raise Conflict(
            _("%(n)s chunks of %(count)s have not arrived: send them, then complete again.")
            % {"n": len(missing), "count": chunk_count},
            code="chunks_missing",
            details={"missing": missing[:1000], "missing_count": len(missing)},
        )
    extra = sorted(i for i in present if i >= chunk_count)
    if extra:
        raise Conflict(
            _("Chunks past the count were received; complete with the count of every chunk sent."),
            code="chunks_beyond_count",
            details={"extra": extra[:1000], "received_count": len(present)},
        )


def _already_complete(recording: Recording, chunk_count: int, sha256: str) -> Recording:
    if recording.chunk_count == chunk_count and recording.sha256 == sha256:
        return recording  # the same completion again (its answer was lost): nothing changes
    raise Conflict(
        _("This recording is already complete, with other figures."),
        code="recording_already_complete",
        details={"chunk_count": recording.chunk_count, "sha256": recording.sha256},
    )


def recording_complete(*, recording: Recording, chunk_count: int, sha256: str, actor: Actor) -> Recording:
    """Assemble chunks ``0 .. chunk_count-1`` into the recording's object, check the whole file hashes to ``sha256``,
    and mark it complete: metered, its purge date set by the plan's retention, audited. Completing again with the same
    figures answers the same recording."""
    require_uploaded_by_a_browser(recording)
    sha256 = sha256.lower()
    if recording.status == Recording.Status.COMPLETE:
        return _already_complete(recording, chunk_count, sha256)
    if recording.status != Recording.Status.UPLOADING:
        raise Conflict(
            _("This recording is %(status)s.") % {"status": recording.status},
            code="recording_not_uploading",
            details={"status": recording.status},
        )
    chunks = list(recording.chunks.order_by("index"))
    _missing_or_extra(chunks, chunk_count)

    storage = store.recordings_storage()
    whole = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as assembled:
        for chunk in chunks:
            piece = hashlib.sha256()
            for block in store.read_blocks(storage, chunk.storage_key):
                piece.update(block)
                whole.update(block)
                assembled.write(block)
                size += len(block)
            if piece.hexdigest() != chunk.sha256:
                logger.error("recording %s: stored chunk %s does not match its hash", recording.public_id, chunk.index)
                raise Conflict(
                    _("Stored chunk %(index)s is damaged; the recording cannot be completed.") % {"index": chunk.index},
                    code="chunk_damaged",
                    details={"index": chunk.index},
                )
        if whole.hexdigest() != sha256:
            raise Conflict(
                _("The chunks received do not make the file you describe (its SHA-256 differs)."),
                code="recording_hash_mismatch",
                details={"sent_sha256": sha256, "assembled_sha256": whole.hexdigest(), "size_bytes": size},
            )
        assembled.seek(0)
        key = storage.save(recording.storage_key, File(assembled, name=recording.storage_key))

    with transaction.atomic():
        locked = _locked(recording)
        if locked.status == Recording.Status.COMPLETE:
            return _already_complete(locked, chunk_count, sha256)
        if locked.status != Recording.Status.UPLOADING:
            raise Conflict(
                _("This recording is %(status)s.") % {"status": locked.status},
                code="recording_not_uploading",
                details={"status": locked.status},
            )
        _missing_or_extra(list(locked.chunks.order_by("index")), chunk_count)
        mark_complete(locked, size=size, sha256=sha256, chunk_count=chunk_count, storage_key=key)
        data = {"recording_id": locked.public_id, "size_bytes": size, "sha256": sha256, "chunk_count": chunk_count}
        log(locked, "recording_completed", actor, data)
        _audit(locked, "recording.completed", actor, data)
        chunk_keys = [chunk.storage_key for chunk in chunks]
        transaction.on_commit(lambda: _delete_objects(chunk_keys))
        announce(locked, "stopped")
    return locked


def mark_complete(recording: Recording, *, size: int, **fields) -> None:
    """Inside the caller's transaction, on its locked row: complete, its purge date from the plan's retention, and
    its storage metered (idempotent by its source key: completing again, or a replayed webhook, meters nothing), and,
    with speech-to-text configured, sent to be transcribed after commit."""
    now = timezone.now()
    fields = {
        **fields,
        "status": Recording.Status.COMPLETE,
        "size_bytes": size,
        "completed_at": now,
        "purge_after": _purge_after(recording, now),
    }
    Recording.objects.for_org(recording.organization).filter(pk=recording.pk).update(**fields)
    for name, value in fields.items():
        setattr(recording, name, value)
    metering.record(
        organization=recording.organization,
        metric=Metric.RECORDING_BYTES,
        quantity=size,
        source_key=f"recording:{recording.public_id}",
        occurred_at=now,
        agent_id=getattr(recording.started_by, "public_id", "") or "",
        agent_name=recording.started_by_label,
    )
    if settings.CONNECT_STT_URL:
        from .tasks import transcribe  # imported here: the task's module imports this one

        recording_id = recording.public_id
        transaction.on_commit(lambda: transcribe.delay(recording_id))


def _delete_objects(keys: list[str]) -> None:
    storage = store.recordings_storage()
    for key in keys:
        if key:
            storage.delete(key)


# --- Download ---------------------------------------------------------------------------------------------------


def recording_download_url(
    *, recording: Recording, actor: Actor, disposition: str = "attachment"
) -> tuple[str, datetime]:
    """A link to the recording's file valid for ``CONNECT_RECORDINGS_URL_SECONDS``: presigned by S3, or signed by us
    for local files (``recordings.views.recording_file``). ``disposition`` ``inline`` is for playing it (audited as
    viewed), ``attachment`` for saving it (audited as downloaded)."""
    if disposition not in DISPOSITIONS:
        raise ApplicationError(
            _("'disposition' is 'attachment' or 'inline'."), code="validation_error", details={"field": "disposition"}
        )
    if recording.status != Recording.Status.COMPLETE:
        raise Conflict(
            _("This recording is %(status)s: only a complete recording can be played or downloaded.")
            % {"status": recording.status},
            code="recording_not_complete",
            details={"status": recording.status},
        )
    seconds = settings.CONNECT_RECORDINGS_URL_SECONDS
    expires_at = timezone.now() + timedelta(seconds=seconds)
    storage = store.recordings_storage()
    filename = f"{recording.public_id}.webm"
    if store.presigns(storage):
        url = storage.url(
            recording.storage_key,
            parameters={
                "ResponseContentType": recording.content_type,
                "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
            },
            expire=seconds,
        )
    else:
        token = signing.dumps(
            {"r": recording.public_id, "k": recording.storage_key, "d": disposition}, salt=DOWNLOAD_SALT
        )
        url = f"{absolute_url('recording_file', recording.public_id)}?{urlencode({'token': token})}"
    action = "recording.viewed" if disposition == "inline" else "recording.downloaded"
    with transaction.atomic():
        _audit(recording, action, actor, {"recording_id": recording.public_id, "expires_at": expires_at.isoformat()})
    return url, expires_at


def recording_for_signed_link(recording_id: str, token: str) -> tuple[Recording, str] | None:
    """The complete recording and disposition a signed local link names, while it is valid; else ``None``."""
    try:
        claims = signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.CONNECT_RECORDINGS_URL_SECONDS)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(claims, dict) or claims.get("d") not in DISPOSITIONS or claims.get("r") != recording_id:
        return None
    found = (
        Recording.objects.unscoped("a signed download link names its recording: the signature is the credential")
        .filter(public_id=claims.get("r"), storage_key=claims.get("k"), status=Recording.Status.COMPLETE)
        .first()
    )
    return (found, claims["d"]) if found is not None else None


# --- Delete and purge -------------------------------------------------------------------------------------------


def _purge(recording: Recording, *, reason: str, actor: Actor) -> bool:
    """Delete the recording's objects, then mark it purged, give its storage back and audit it (once, whoever races:
    the objects' deletion is idempotent, the status change conditional). True when this call purged it."""
    previous = recording.status
    if previous == Recording.Status.PURGED:
        return False
    chunk_keys = list(recording.chunks.values_list("storage_key", flat=True))
    _delete_objects([recording.storage_key, *chunk_keys] if previous == Recording.Status.COMPLETE else chunk_keys)
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Recording.objects.for_org(recording.organization)
            .filter(pk=recording.pk, status=previous)
            .update(status=Recording.Status.PURGED, purged_at=now, purge_reason=reason)
        )
        if changed != 1:
            return False
        recording.status, recording.purged_at, recording.purge_reason = Recording.Status.PURGED, now, reason
        if previous == Recording.Status.COMPLETE and recording.size_bytes:
            metering.record(
                organization=recording.organization,
                metric=Metric.RECORDING_BYTES,
                quantity=-recording.size_bytes,
                source_key=f"recording:{recording.public_id}:deleted",
                occurred_at=now,
            )
        action = "recording.purged" if reason == Recording.PurgeReason.RETENTION else "recording.deleted"
        _audit(recording, action, actor, {"recording_id": recording.public_id, "size_bytes": recording.size_bytes})
    return True


def recording_delete(*, recording: Recording, actor: Actor) -> Recording:
    """Delete the recording's bytes (an upload under way included); the row stays as the record, ``purged``."""
    _purge(recording, reason=Recording.PurgeReason.DELETED, actor=actor)
    return recording


PURGE_BATCH = 500


def recordings_purge_expired(now: datetime | None = None) -> int:
    """Purge complete recordings past their ``purge_after`` (the plan's retention when they completed). Returns how
    many; running it again, or twice at once, purges each one once."""
    now = now or timezone.now()
    due = (
        Recording.objects.unscoped("beat purge: recordings of every organization past their retention")
        .filter(status=Recording.Status.COMPLETE, purge_after__lte=now)
        .select_related("organization", "session")
        .order_by("purge_after")[:PURGE_BATCH]
    )
    purged = 0
    for recording in due:
        try:
            purged += _purge(recording, reason=Recording.PurgeReason.RETENTION, actor=SYSTEM)
        except Exception:  # noqa: BLE001 - one object storage failure must not stop the others; retried next run
            logger.exception("recording %s could not be purged", recording.public_id)
    return purged


# --- Abandoned uploads ------------------------------------------------------------------------------------------


def _salvage(recording: Recording) -> str:
    """Complete an abandoned upload from the chunks that arrived in order (the whole file is then what the server
    assembled; each chunk was checked against its own hash on arrival); chunks after a gap are dropped. Without a
    first chunk there is nothing to keep: the recording is marked failed. Returns what happened."""
    chunks = list(RecordingChunk.objects.for_org(recording.organization).filter(recording=recording).order_by("index"))
    usable = 0
    for chunk in chunks:
        if chunk.index != usable:
            break
        usable += 1
    dropped = [chunk for chunk in chunks if chunk.index >= usable]
    if dropped:
        _delete_objects([chunk.storage_key for chunk in dropped])
        RecordingChunk.objects.for_org(recording.organization).filter(pk__in=[c.pk for c in dropped]).delete()
    if not usable:
        with transaction.atomic():
            locked = _locked(recording)
            if locked.status != Recording.Status.UPLOADING:
                return "skipped"
            Recording.objects.for_org(locked.organization).filter(pk=locked.pk).update(status=Recording.Status.FAILED)
            data = {"recording_id": locked.public_id, "reason": "abandoned without any chunk"}
            log(locked, "recording_failed", SYSTEM, data)
            _audit(locked, "recording.failed", SYSTEM, data)
        return "failed"
    storage = store.recordings_storage()
    whole = hashlib.sha256()
    for chunk in chunks[:usable]:
        for block in store.read_blocks(storage, chunk.storage_key):
            whole.update(block)
    recording_complete(recording=recording, chunk_count=usable, sha256=whole.hexdigest(), actor=SYSTEM)
    if dropped:
        log(
            recording,
            "recording_salvaged",
            SYSTEM,
            {"recording_id": recording.public_id, "kept_chunks": usable, "dropped_chunks": len(dropped)},
        )
    return "completed"


def recordings_salvage_abandoned(now: datetime | None = None) -> dict[str, int]:
    """Uploads nobody has added to for ``CONNECT_RECORDING_ABANDON_SECONDS`` (the agent's tab closed, the network went)
    are completed from what arrived, so a closed tab loses at most its last few seconds. Beat runs it."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CONNECT_RECORDING_ABANDON_SECONDS)
    stale = (
        Recording.objects.unscoped("beat sweep: abandoned uploads of every organization")
        .filter(status=Recording.Status.UPLOADING, created_at__lt=cutoff, session__isnull=False)
        .exclude(chunks__created_at__gte=cutoff)
        .select_related("organization", "session", "started_by")
        .order_by("created_at")[:PURGE_BATCH]
    )
    outcome = {"completed": 0, "failed": 0, "skipped": 0}
    for recording in stale:
        try:
            outcome[_salvage(recording)] += 1
        except Exception:  # noqa: BLE001 - one damaged upload must not stop the others; it stays for a person to see
            logger.exception("recording %s could not be salvaged", recording.public_id)
            outcome["skipped"] += 1
    return outcome
