"""Move every entry of the old log (``support.AuditEntry``) into the chains, oldest first, none lost.

The actor becomes a snapshot (the user's public id and e-mail as recorded); the old foreign key goes with the table.
"""

from django.db import migrations

from audit.chain import entry_hash

GENESIS = "0" * 64


def copy(apps, schema_editor):
    Old = apps.get_model("support", "AuditEntry")
    New = apps.get_model("audit", "AuditEntry")
    ChainHead = apps.get_model("audit", "ChainHead")
    Organization = apps.get_model("orgs", "Organization")
    for organization in Organization._base_manager.all().iterator():
        seq, prev = 0, GENESIS
        batch = []
        old_entries = Old._base_manager.filter(organization_id=organization.pk).select_related("actor")
        for old in old_entries.order_by("created_at", "id").iterator():
            seq += 1
            actor_kind, actor_id = ("user", old.actor.public_id) if old.actor_id else ("system", "")
            if not old.actor_id and old.actor_label and old.actor_label != "system":
                actor_kind = old.actor_label if old.actor_label in ("customer", "api", "agent") else "system"
            fields = {
                "seq": seq,
                "prev_hash": prev,
                "action": old.action,
                "actor_kind": actor_kind,
                "actor_id": actor_id,
                "target_type": old.target_type,
                "target_id": old.target_id,
                "data": old.data or {},
                "created_at": old.created_at,
            }
            digest = entry_hash(organization=organization.public_id, **fields)
            batch.append(
                New(
                    organization_id=organization.pk,
                    hash=digest,
                    actor_label=old.actor_label[:150],
                    ip=old.ip,
                    **fields,
                )
            )
            prev = digest
            if len(batch) >= 1000:
                New._base_manager.bulk_create(batch)
                batch = []
        New._base_manager.bulk_create(batch)
        if seq:
            ChainHead._base_manager.create(organization_id=organization.pk, last_seq=seq, last_hash=prev)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("support", "0003_session_agent_snapshot"),
        ("orgs", "0004_org_settings_retention_deletion"),
    ]
    operations = [migrations.RunPython(copy, migrations.RunPython.noop)]
