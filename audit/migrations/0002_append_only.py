"""The database refuses to change what an audit entry records, and to delete entries without a purge permit.

Only the personal columns (actor_label, target_label, ip) may change: erasure pseudonymizes them, and they sit
outside the hash. Deleting needs a ``PurgePermit`` row for the organization covering the entry's sequence number,
inserted in the same transaction by ``audit.services`` (retention, organization purge).
"""

from django.db import migrations

HASHED = "id, organization_id, seq, prev_hash, hash, action, actor_kind, actor_id, target_type, target_id, data, created_at"

POSTGRES_FORWARD = f"""
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF ROW({", ".join("NEW." + c for c in HASHED.split(", "))}) IS DISTINCT FROM
       ROW({", ".join("OLD." + c for c in HASHED.split(", "))}) THEN
      RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM audit_purgepermit p
             WHERE p.organization_ref = OLD.organization_id AND OLD.seq <= p.up_to_seq) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
  FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_append_only();
"""
SQLITE_FORWARD = [
    f"CREATE TRIGGER audit_entry_no_update BEFORE UPDATE OF {HASHED} ON audit_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_auditentry WHEN NOT EXISTS ("
    "SELECT 1 FROM audit_purgepermit p WHERE p.organization_ref = OLD.organization_id AND OLD.seq <= p.up_to_seq) "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS audit_entry_no_update;", "DROP TRIGGER IF EXISTS audit_entry_no_delete;"]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
