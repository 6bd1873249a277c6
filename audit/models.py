"""The organization's audit log: one hash chain per organization, append-only in the database.

An entry's hash covers what it records (organization, sequence number, previous hash, action, who by kind and id,
what by type and id, data, time). The display labels and the IP address are the entry's personal data: they sit
outside the hash, and are the only columns the database lets anyone change, so that erasing a person
(``audit.services.audit_pseudonymize``) leaves the chain verifiable. Deleting entries needs a ``PurgePermit`` row in
the same transaction (retention and the organization purge, ``audit.services``); anything else is refused by a
trigger on PostgreSQL and on SQLite (migration 0002).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orgs.tenancy import OrgOwnedModel, OrgScopedQuerySet

GENESIS = "0" * 64


class AuditEntry(OrgOwnedModel):
    seq = models.PositiveBigIntegerField(_("sequence number"))
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    action = models.CharField(_("action"), max_length=60)
    # Who: "user", "api_key", "oauth_app", "customer" or "system", their public id, and a label as they were then.
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=60, blank=True)
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=60, blank=True)
    target_label = models.CharField(_("target"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        constraints = [models.UniqueConstraint(fields=["organization", "seq"], name="audit_entry_seq_unique")]
        indexes = [
            models.Index(fields=["organization", "action", "seq"]),
            models.Index(fields=["organization", "actor_id", "seq"]),
            models.Index(fields=["organization", "target_id", "seq"]),
            models.Index(fields=["organization", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_type}:{self.target_id}"


class ChainHead(OrgOwnedModel):
    """Where an organization's chain ends (locked by every writer) and where it starts (the anchor: the hash of
    the last entry a retention purge removed, or the genesis hash)."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS)
    anchor_seq = models.PositiveBigIntegerField(default=0)
    anchor_hash = models.CharField(max_length=64, default=GENESIS)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="audit_chain_head_one_per_org")]

    def __str__(self) -> str:
        return f"chain of {self.organization_id} at #{self.last_seq}"


class PurgePermit(models.Model):
    """Lets the database delete one organization's entries up to a sequence number, inside one transaction.

    Deliberately no foreign key: it must outlive the cascade that deletes an organization's rows."""

    organization_ref = models.BigIntegerField()
    up_to_seq = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"purge of {self.organization_ref} up to #{self.up_to_seq}"
