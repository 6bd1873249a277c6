"""Recordings of support sessions and the chunks they are uploaded in.

The agent's browser uploads a recording while it records, in numbered chunks, each stored as an object of its own
(``RecordingChunk``); completing the recording streams the chunks, in order, into one object and verifies its
SHA-256. The bytes live in ``STORAGES["recordings"]`` (S3 or local files); these rows say where, and what they
should hash to.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id
from orgs.tenancy import OrgGuardedModel, OrgOwnedModel, OrgScopedQuerySet


def _recording_id() -> str:
    return new_public_id("rec")


class Recording(OrgOwnedModel):
    class Status(models.TextChoices):
        UPLOADING = "uploading", _("Uploading")
        COMPLETE = "complete", _("Complete")
        # An upload abandoned without a single chunk, or a meeting recording the SFU's egress could not finish.
        FAILED = "failed", _("Failed")
        # Deleted by a person or by the retention purge: the row stays as the record, the bytes are gone.
        PURGED = "purged", _("Purged")

    class PurgeReason(models.TextChoices):
        DELETED = "deleted", _("Deleted")
        RETENTION = "retention", _("Retention period ended")

    CONTENT_TYPES = ("video/webm", "video/mp4")

    public_id = models.CharField(max_length=40, unique=True, default=_recording_id, editable=False)
    # A recording is of a support session (the agent's browser uploads it) or of a meeting (LiveKit's egress writes
    # it to the same bucket): exactly one of the two.
    session = models.ForeignKey(
        "support.SupportSession", on_delete=models.CASCADE, related_name="recordings", null=True, blank=True
    )
    meeting = models.ForeignKey(
        "meetings.Meeting", on_delete=models.CASCADE, related_name="recordings", null=True, blank=True
    )
    egress_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The person may later be erased: the recording keeps the snapshot of who started it.
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_by_label = models.CharField(_("started by"), max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADING)
    content_type = models.CharField(max_length=64, default="video/webm")
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    chunk_count = models.PositiveIntegerField(null=True, blank=True)
    storage_key = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(_("purged after"), null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    purge_reason = models.CharField(max_length=16, choices=PurgeReason.choices, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="recording_org_created"),
            models.Index(fields=["status", "purge_after"], name="recording_status_purge"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(session__isnull=False, meeting__isnull=True)
                | models.Q(session__isnull=True, meeting__isnull=False),
                name="recording_of_a_session_or_a_meeting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def started_by_name(self) -> str:
        if self.started_by is None:
            return self.started_by_label
        return self.started_by.get_full_name() or self.started_by.email


class RecordingChunk(OrgGuardedModel):
    """One uploaded piece of a recording, stored as its own object until the recording is assembled (the row then
    stays, as the manifest of what was received)."""

    org_path = "recording__organization"

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["recording", "index"], name="recording_chunk_once")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.recording_id}"


class Transcript(OrgGuardedModel):
    """A recording's WebVTT transcript: uploaded by a client, or produced by a speech-to-text service. ``text`` is
    its cues' words joined, what the organization's search looks in."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("uploaded")
        SPEECH_TO_TEXT = "stt", _("speech to text")

    org_path = "recording__organization"

    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="transcript")
    language = models.CharField(max_length=35, default="en")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    vtt = models.TextField()
    text = models.TextField()
    cue_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"transcript of {self.recording_id}"
