"""Meetings through an SFU (LiveKit): the meeting, its secret guest link (stored as a hash) and who took part.

A participant's ``identity`` is what LiveKit knows them by (tokens, webhooks, host controls); it is unique per meeting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id
from orgs.tenancy import OrgOwnedModel


def _meeting_id() -> str:
    return new_public_id("mtg")


def _participant_id() -> str:
    return new_public_id("mtp")


class Meeting(OrgOwnedModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        LIVE = "live", _("Live")
        ENDED = "ended", _("Ended")

    public_id = models.CharField(max_length=40, unique=True, default=_meeting_id, editable=False)
    title = models.CharField(_("title"), max_length=200)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Snapshot of the host's name: the meeting's history outlives the person.
    host_label = models.CharField(max_length=150, blank=True, default="")
    # Both empty: an instant meeting.
    scheduled_start = models.DateTimeField(null=True, blank=True)
    scheduled_end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    locked = models.BooleanField(default=False)
    guests_may_share_screen = models.BooleanField(default=False)
    room_name = models.CharField(max_length=64, unique=True, editable=False)
    invite_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def name(self) -> str:  # the audit log's label
        return self.title


class MeetingParticipant(OrgOwnedModel):
    class Role(models.TextChoices):
        HOST = "host", _("Host")
        MEMBER = "member", _("Member")
        GUEST = "guest", _("Guest")

    class State(models.TextChoices):
        LOBBY = "lobby", _("Waiting in the lobby")
        ADMITTED = "admitted", _("Admitted")
        REMOVED = "removed", _("Removed")
        LEFT = "left", _("Left")

    public_id = models.CharField(max_length=40, unique=True, default=_participant_id, editable=False)
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    display_name = models.CharField(max_length=120)
    identity = models.CharField(max_length=64)
    # A guest's credential for coming back to the meeting (polling the lobby): only its hash, unique when set.
    guest_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices)
    state = models.CharField(max_length=16, choices=State.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    joined_at = models.DateTimeField(null=True, blank=True)  # in the room (LiveKit's webhook), the current stint
    left_at = models.DateTimeField(null=True, blank=True)
    minutes_counted = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "identity"], name="meeting_participant_unique_identity")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.meeting}"

    @property
    def name(self) -> str:
        return self.display_name


class MeetingWebhookEvent(OrgOwnedModel):
    """A LiveKit webhook event already handled, by its id: a replayed delivery changes nothing."""

    event_id = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now_add=True)


class MeetingMessage(OrgOwnedModel):
    """A line of a meeting's chat, kept with the meeting (a compliance officer reads it after); the sender's name is
    a snapshot, so the line outlives the participant's record."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="messages")
    participant = models.ForeignKey(
        MeetingParticipant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sender_name = models.CharField(max_length=120)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.sender_name}: {self.text[:40]}"
