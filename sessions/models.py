"""Remote-support sessions and their event log (the audit log lives in the ``audit`` app)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from connect.ids import new_public_id
from orgs.tenancy import OrgGuardedModel, OrgOwnedModel, OrgScopedQuerySet


def _session_id() -> str:
    return new_public_id("ses")


def _chat_message_id() -> str:
    return new_public_id("msg")


class Status(models.TextChoices):
    WAITING = "waiting", _("Waiting for the customer")
    CONSENT_REQUESTED = "consent_requested", _("Waiting for consent")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")
    EXPIRED = "expired", _("Expired")
    DECLINED = "declined", _("Declined")


LIVE_STATUSES = (Status.WAITING, Status.CONSENT_REQUESTED, Status.ACTIVE)
FINAL_STATUSES = (Status.ENDED, Status.EXPIRED, Status.DECLINED)


class EndReason(models.TextChoices):
    AGENT_ENDED = "agent_ended", _("Ended by the agent")
    CUSTOMER_ENDED = "customer_ended", _("Ended by the customer")
    CONSENT_REVOKED = "consent_revoked", _("The customer stopped sharing")
    DECLINED = "declined", _("The customer declined")
    DISCONNECTED = "disconnected", _("Connection lost")
    EXPIRED = "expired", _("The code was not used in time")
    ORGANIZATION_DELETED = "organization_deleted", _("The organization was deleted")
    TIME_LIMIT = "time_limit", _("The plan's session length was reached")


class SupportSession(OrgOwnedModel):
    """One attended support session. ``status`` only moves forward (see ``sessions.services.TRANSITIONS``)."""

    public_id = models.CharField(max_length=40, unique=True, default=_session_id, editable=False)
    # The agent may later be erased: the session stays, with the snapshot of who ran it.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="support_sessions"
    )
    agent_label = models.CharField(_("agent"), max_length=150, blank=True)
    code = models.CharField(_("share code"), max_length=9)
    code_expires_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.WAITING)
    customer_name = models.CharField(_("customer name"), max_length=120, blank=True)
    customer_email = models.EmailField(_("customer e-mail"), blank=True)
    # The customer's credential for this one session; only its hash is kept.
    customer_token_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=24, choices=EndReason.choices, blank=True)
    # The session's workflow (agents only; never shown to the customer except the rating they gave).
    tags = models.JSONField(_("tags"), default=list, blank=True)
    ticket_ref = models.CharField(_("ticket reference"), max_length=200, blank=True)
    rating = models.PositiveSmallIntegerField(_("customer rating (1-5)"), null=True, blank=True)
    rating_comment = models.TextField(_("customer comment"), blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A code names one live session at a time; ended sessions keep theirs for the record.
            models.UniqueConstraint(
                fields=["code"],
                condition=models.Q(status__in=["waiting", "consent_requested", "active"]),
                name="session_code_unique_while_live",
            )
        ]
        indexes = [models.Index(fields=["organization", "status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def agent_name(self) -> str:
        """Who ran it, for people to read: the agent's name now, or the snapshot once they were erased."""
        return self.agent.get_full_name() if self.agent is not None else self.agent_label

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def duration_seconds(self) -> int | None:
        if self.started_at and self.ended_at:
            return int((self.ended_at - self.started_at).total_seconds())
        return None


class SessionEvent(OrgGuardedModel):
    """What happened in a session, who did it, from where. Written by services only; never changed."""

    org_path = "session__organization"

    session = models.ForeignKey(SupportSession, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=40)
    actor_kind = models.CharField(max_length=16)  # agent | customer | system | api_key | oauth_app
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} in {self.session_id}"


class ChatMessage(OrgGuardedModel):
    """One chat line of a session, as both sides saw it: who sent it (kind, and the name shown) and when.

    Kept by the organization's chat retention; the sender's name is personal data (erasure pseudonymizes it)."""

    org_path = "session__organization"

    public_id = models.CharField(max_length=40, unique=True, default=_chat_message_id, editable=False)
    session = models.ForeignKey(SupportSession, on_delete=models.CASCADE, related_name="chat_messages")
    sender_kind = models.CharField(max_length=16)  # agent | customer | system
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    sender_name = models.CharField(max_length=150, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"chat in {self.session_id} by {self.sender_kind}"


class SessionNote(OrgGuardedModel):
    """A private note an agent keeps on a session (never shown to the customer)."""

    org_path = "session__organization"

    session = models.ForeignKey(SupportSession, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    author_label = models.CharField(max_length=150, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note on {self.session_id}"
